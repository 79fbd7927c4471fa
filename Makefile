# burst: `make run` runs the job of cluster.yaml; `make test` runs every test, `make test-fast`
# all but the slow ones.
# `make check` checks the file; `make preview` shows what a run would make and writes the plan;
# `make down` removes a cluster left up; `make report` draws its runs in <results.dir>/history.html.
# ROWS=N runs N synthetic rows instead of the file's;
# BASE=FILE makes the plan compare with an earlier version of the cluster file.
# Each first builds a virtual environment from python3 (3.11 or newer) and pyproject.toml.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The environment is ready once built from this pyproject.toml and constraints.txt: its stamp
# is named by their hash, not dated, so a fresh clone or a restored cache (new mtimes, same
# files) rebuilds nothing, and a change to either rebuilds it.
INPUTS := $(shell $(PYTHON) -c 'import hashlib; print(hashlib.sha256(b"".join(open(f, "rb").read() for f in ("pyproject.toml", "constraints.txt"))).hexdigest()[:16])' 2>/dev/null)
READY := $(VENV)/.ready-$(INPUTS)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: run check preview down report test test-fast test-hosts test-browser lint bench venv clean constraints

CLUSTER_ARG = $(if $(CLUSTER),-e cluster_file=$(abspath $(CLUSTER)))
# ROWS and BASE may come from a workflow's input: the shell expands them, make never does,
# and the shell shows the command as it runs it (set -x), with them expanded.
export ROWS BASE
ROWS_ARG = $${ROWS:+-e "burst_rows=$$ROWS"}
BASE_ARG = $${BASE:+-e "burst_base_file=$$BASE"}
PLAYBOOK = @set -x; $(BIN)/ansible-playbook

run: $(READY)
	$(PLAYBOOK) playbooks/site.yml $(CLUSTER_ARG) $(ROWS_ARG)

check: $(READY)
	$(PLAYBOOK) playbooks/check.yml $(CLUSTER_ARG)

preview: $(READY)
	$(PLAYBOOK) playbooks/site.yml --check $(CLUSTER_ARG) $(ROWS_ARG) $(BASE_ARG)

down: $(READY)
	$(PLAYBOOK) playbooks/down.yml $(CLUSTER_ARG)

report: $(READY)
	$(PLAYBOOK) playbooks/report.yml $(CLUSTER_ARG)

# It ends with the slowest tests, to keep the whole under 45 minutes.
test: lint test-hosts test-browser
	$(BIN)/pytest --durations=25 $(PYTEST_ARGS)

# The edit-test loop, in under two minutes: lint and every test not marked slow or hosts.
test-fast: lint
	$(BIN)/pytest -m "not slow and not hosts" $(PYTEST_ARGS)

# The multi-host tests run sshd in network namespaces: as root, install openssh-server
# (never starting its service); otherwise those tests say why they skip.
test-hosts:
	@if [ "$$(id -u)" = 0 ] && [ ! -x /usr/sbin/sshd ] && command -v apt-get >/dev/null; then \
	  echo "installing openssh-server for the multi-host tests (its service stays stopped)"; \
	  policy=/usr/sbin/policy-rc.d; made=; \
	  if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy; chmod +x $$policy; made=1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq openssh-server > /dev/null; \
	  if [ -n "$$made" ]; then rm -f $$policy; fi; \
	fi

# The run report's test opens report.html in a headless browser: as root, install Debian's
# chromium; otherwise that test says why it skips.
test-browser:
	@if [ "$$(id -u)" = 0 ] && ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then \
	  echo "installing chromium for the run report's browser test"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq chromium > /dev/null; \
	fi

# Benchmarks against the single process and Dask DataFrame: bench/results.{json,md,png}.
bench: $(READY)
	PYTHONPATH=collections $(BIN)/python tests/bench/suite.py --out bench

lint: $(READY)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

venv: $(READY)

$(READY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "burst needs Python 3.11 or newer: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt uv
	# Every process of a run imports the app's packages: uv compiles them once here, since a
	# Python that may not write bytecode (PYTHONDONTWRITEBYTECODE) compiles them in each process.
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --constraint constraints.txt -e .
	$(BIN)/uv pip install --quiet --python $(BIN)/python --constraint constraints.txt -e '.[controller,test]'
	rm -f $(VENV)/.ready*
	touch $@

clean:
	rm -rf $(VENV) .burst .pytest_cache .ruff_cache

# Pin every package again after a change to pyproject.toml, from a fresh environment.
constraints:
	rm -rf .constraints-venv
	$(PYTHON) -m venv .constraints-venv
	.constraints-venv/bin/python -m pip install --quiet '.[controller,test]'
	{ head -n 2 constraints.txt; .constraints-venv/bin/python -m pip freeze --exclude burst; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .constraints-venv
