"""burst's providers: what the machines of a cluster run on, one module each.

A provider is the module of this package named as the cluster file's ``provider``, with its
section in the schema (``provider``'s enum and, if it takes settings, a section of its own).
The module answers everything burst asks of a provider:

- ``SECTION``: the cluster file's section it needs (None: none);
- ``problems(config, base_dir)``: what is wrong with a config beyond the schema;
- ``stack(config, state_dir, state, check_mode, force)``: bring the machines up (``present``,
  in check mode a preview) or down (``absent``), returning the module's result with the
  stack ``outputs`` (see stack_outputs);
- ``SSH_KEY``: whether its machines take the cluster's own SSH key; if so, ``stack`` is given
  ``make_ssh_key(path, comment)``, which makes that ed25519 key with
  community.crypto.openssh_keypair (in check mode too) and returns the module's result;
- ``ON_CONTROLLER``: whether every host is the controller itself; ``TORN_DOWN``: whether
  its machines go at the end of every run; ``env(config)``: the environment its processes need;
- ``machines(config)``, ``CLOUD`` and ``RUNS_ON``: how the plan and summary describe it;
  ``run_cost(config, prices)``: what a run's machines cost at most (None: nothing);
- ``sizes(config)``: the sizes sizing's table shows; ``sized_on(config)``: what its machine
  is called there; ``would_take(config, size)``: a size beyond the table, said.
"""

from __future__ import annotations

import importlib
import pkgutil


def names() -> list[str]:
    """Every provider, by name."""
    return sorted(module.name for module in pkgutil.iter_modules(__path__))


def get(name: str):
    """The module of provider ``name``; ValueError if there is none."""
    if name not in names():
        raise ValueError(f"provider: {name!r} is not one of {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name}")
