# One entry point for people and CI. `make local` runs the whole export on local
# endpoints (arguments through ARGS, e.g. ARGS='--logs 120000 --max-rows-per-worker 20000');
# `make test` runs ruff, mypy and pytest. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DYNALITE_VERSION := 3.2.2
DYNALITE := .local/node/node_modules/.bin/dynalite

.PHONY: venv dynalite test lint local serve bench clean

$(BIN)/tracking-export: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(BIN)/tracking-export

$(DYNALITE):
	mkdir -p .local/node
	npm install --silent --no-audit --no-fund --prefix .local/node dynalite@$(DYNALITE_VERSION)

dynalite: $(DYNALITE)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

test: venv dynalite lint
	$(BIN)/pytest

local: venv dynalite
	$(BIN)/python -m tools.local_run $(ARGS)

# The stack `sam local invoke --env-vars events/env.local.json` talks to; Ctrl-C stops it.
# SERVE_ARGS, e.g. "--logs 50000" or "--moto-port 5001" (see `python -m tools.serve --help`).
serve: venv dynalite
	$(BIN)/python -m tools.serve $(SERVE_ARGS)

bench: venv dynalite
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/export_e2e.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/export_memory.py
	$(BIN)/python bench/read_cost.py
	$(BIN)/python bench/offboard_scan.py

clean:
	rm -rf $(VENV) .local .aws-sam
