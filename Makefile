# Everything installs into the project: .venv (Python) and node_modules (the pinned CDK CLI).
# `make synth` and `make test` are the README's two commands for a fresh machine.

VENV := .venv
BIN := $(VENV)/bin
CDK := node_modules/.bin/cdk
PYTHON ?= python3

# Node 20 is past jsii's support window; the banner it prints on every run is noise here.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: install synth synth-fast test lint typecheck snapshots bench bench-evaluation clean audit agent-lock replacement-guard

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(BIN)/.installed node_modules/.installed

## Install everything, then synthesize every environment into cdk.out/assembly-<env>/.
synth: install
	$(CDK) synth --quiet --no-notices

## Faster local iteration: synthesize without the gates, neither the cdk-nag packs nor aws-cdk-lib's CloudFormation
## validation (CDK_VALIDATION=false); the same templates. Never what CI or the pipeline runs.
synth-fast: install
	CDK_VALIDATION=false $(CDK) synth --quiet --no-notices -c skip_gates=true

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

## Install everything, then run lint, type checks and the whole pytest suite.
test: lint typecheck
	$(BIN)/pytest

## Before merging: fail if the change deletes or replaces a stateful resource its config does not acknowledge,
## against the templates of the merge-base with BASE_REF (synthesized in a temporary git worktree).
BASE_REF ?= origin/main
replacement-guard: install
	$(BIN)/python -m auditing.replacements --base-ref $(BASE_REF)

## After changing agent/requirements.txt: resolve it for the image (arm64, Python 3.12) with hashes, from PyPI.
agent-lock: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.9.30
	$(BIN)/uv pip compile agent/requirements.txt --python-platform aarch64-manylinux_2_28 --python-version 3.12 \
	  --generate-hashes --no-header --only-binary :all: --index-url https://pypi.org/simple \
	  -o agent/requirements.lock

## After an intended template change: rewrite tests/infra/__snapshots__/ and commit the diff.
snapshots: install
	$(BIN)/pytest -n0 tests/infra/test_template_snapshots.py --snapshot-update

## Write the audit bundle: audit/<env>/ (templates, cdk-nag, cfn-lint, inventory, IAM, network, encryption,
## cost, diagrams), from one offline synth.
audit: install
	$(BIN)/python -m auditing --out audit

bench: install
	$(BIN)/python bench/run.py

bench-evaluation: install
	$(BIN)/python bench/evaluation.py

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache bench/out audit
