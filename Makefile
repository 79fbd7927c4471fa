# burst: `make run` runs the job of cluster.yaml; `make test` runs every test.
# Both first build a virtual environment from python3 (3.11 or newer) and pyproject.toml.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: run test lint venv clean

run: $(READY)
	$(BIN)/ansible-playbook playbooks/site.yml $(if $(CLUSTER),-e cluster_file=$(abspath $(CLUSTER)))

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(READY)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

venv: $(READY)

$(READY): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "burst needs Python 3.11 or newer: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) .burst .pytest_cache .ruff_cache
