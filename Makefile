# One entry point for people and CI. `make local` runs the whole export on local endpoints
# (arguments through ARGS, e.g. ARGS='--logs 120000 --max-rows-per-worker 20000'); `make test`
# runs the checks and the whole test suite on Python 3.11 (.venv) and on Python 3.13, the
# Lambda runtime's (.venv313); `make lock` refreshes uv.lock and the files generated from it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENV313 := .venv313
# Python 3.13 (the runtime's), found on PATH or under pyenv; fails loudly, naming where it looked.
FIND_PYTHON313 := .ci/find-python 3.13
DYNALITE_VERSION := 3.2.2
DYNALITE := .local/node/node_modules/.bin/dynalite
# uv resolves the lock; it is pinned (with hashes) in requirements/uv.txt, installed from PyPI.
UV := .local/uv/bin/uv
SAM := .local/sam/bin/sam
# What `make lock` exports from uv.lock, with hashes: the dev venvs' packages (every extra,
# not the project itself, which is installed editable on top) and the deps layer's (the `aws`
# extra's runtime packages only: pydantic, Powertools, boto3…).
DEV_REQUIREMENTS := requirements/dev.txt
LAYER_REQUIREMENTS := layers/deps/requirements.txt
DEV_EXPORT := --extra dev
LAYER_EXPORT := --no-dev --extra aws
# $(call export-lock,OPTIONS): uv.lock's export for OPTIONS, on standard output.
export-lock = { echo "\# Generated from uv.lock by make lock (uv export $(1)): do not edit."; \
	$(UV) export --quiet --frozen --format requirements.txt --no-emit-project --no-annotate --no-header $(1); }

.PHONY: venv venv313 dynalite test lint lock lock-check sam-check local serve bench clean

# A venv is made anew whenever the lock's export changes, so it holds exactly what the lock
# says (pip never removes a package a requirements file stopped naming).
define make-venv
	rm -rf $(1)
	$(2) -m venv $(1)
	$(1)/bin/pip install --quiet --require-hashes -r $(DEV_REQUIREMENTS)
	$(1)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(1)/.installed
endef

$(VENV)/.installed: $(DEV_REQUIREMENTS) pyproject.toml
	$(call make-venv,$(VENV),$(PYTHON))

$(VENV313)/.installed: $(DEV_REQUIREMENTS) pyproject.toml
	$(call make-venv,$(VENV313),"$$($(FIND_PYTHON313))")

venv: $(VENV)/.installed

venv313: $(VENV313)/.installed

$(UV): requirements/uv.txt
	rm -rf .local/uv
	$(PYTHON) -m venv .local/uv
	.local/uv/bin/pip install --quiet --require-hashes -r requirements/uv.txt

# The one command that refreshes the lock: every package to the newest version pyproject.toml's
# ranges allow, then the two exports. Review the diff (uv.lock names every version change).
# The tools' own versions are the ones requirements/uv.in and requirements/sam.in name.
lock: $(UV)
	$(UV) lock --upgrade
	for tool in uv sam; do \
		$(UV) pip compile requirements/$$tool.in --generate-hashes --universal --no-header --quiet \
			-o .local/$$tool.txt && \
		{ cmp -s .local/$$tool.txt requirements/$$tool.txt || mv .local/$$tool.txt requirements/$$tool.txt; } \
		|| exit 1; \
	done
	$(call export-lock,$(DEV_EXPORT)) > $(DEV_REQUIREMENTS)
	$(call export-lock,$(LAYER_EXPORT)) > $(LAYER_REQUIREMENTS)

# Fails when pyproject.toml changed without `make lock`, or an export was edited by hand.
lock-check: $(UV)
	$(UV) lock --locked
	$(call export-lock,$(DEV_EXPORT)) | diff -u $(DEV_REQUIREMENTS) - \
		|| { echo "$(DEV_REQUIREMENTS) is not uv.lock's export: run make lock" >&2; exit 1; }
	$(call export-lock,$(LAYER_EXPORT)) | diff -u $(LAYER_REQUIREMENTS) - \
		|| { echo "$(LAYER_REQUIREMENTS) is not uv.lock's export: run make lock" >&2; exit 1; }

# A stock SAM CLI (its own venv, never the project's: it brings its own cfn-lint and boto3),
# pinned with hashes in requirements/sam.txt (requirements/sam.in names the version).
$(SAM): requirements/sam.txt
	rm -rf .local/sam
	$(PYTHON) -m venv .local/sam
	# --no-deps: the file holds the whole resolution, and pip's hash mode would refuse aws-sam-cli's
	# own requirement on boto3-stubs[...] (extras) as unpinned.
	.local/sam/bin/pip install --quiet --require-hashes --no-deps -r requirements/sam.txt
	touch $@

# What an operator runs before `sam deploy`, offline but for the wheels the deps layer downloads.
sam-check: $(SAM)
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --region us-east-1
	rm -rf .local/sam-build
	SAM_CLI_TELEMETRY=0 $(SAM) build --build-dir .local/sam-build --cache-dir .local/sam-cache

$(DYNALITE):
	mkdir -p .local/node
	npm install --silent --no-audit --no-fund --prefix .local/node dynalite@$(DYNALITE_VERSION)

dynalite: $(DYNALITE)

# mypy checks everything as Python 3.11 (the oldest the tools and tests run on) and again as
# 3.13 (the runtime's), from the 3.13 venv. The serverless rules are appended here rather than
# in .cfnlintrc, which a stock SAM CLI (`sam validate --lint`) must be able to read.
lint: venv venv313 lock-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(VENV313)/bin/mypy --python-version 3.13
	$(BIN)/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml

test: lint sam-check dynalite
	$(BIN)/pytest
	$(VENV313)/bin/pytest

local: venv dynalite
	$(BIN)/python -m tools.local_run $(ARGS)

# The stack `sam local invoke --env-vars events/env.local.json` talks to; Ctrl-C stops it.
# SERVE_ARGS, e.g. "--logs 50000" or "--moto-port 5001" (see `python -m tools.serve --help`).
serve: venv dynalite
	$(BIN)/python -m tools.serve $(SERVE_ARGS)

bench: venv dynalite
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/export_e2e.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/export_memory.py
	$(BIN)/python bench/read_cost.py
	$(BIN)/python bench/offboard_scan.py

clean:
	rm -rf $(VENV) $(VENV313) .local .aws-sam
