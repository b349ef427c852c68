# One target per job. `make demo` and `make test` set themselves up on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The aws-cdk CLI, from package-lock.json (the deploy tests and the infrastructure targets run it).
NODE_STAMP := node_modules/.installed
UV := $(VENV)/bin/uv
# One lock for every platform, for the Python the project supports (pyproject.toml), with hashes.
LOCK_OPTIONS := --universal --generate-hashes --python-version 3.11 --quiet --upgrade
# The operators' command line, installed by the setup below (pyproject.toml's [project.scripts]).
KINESIS_EXPORT := $(VENV)/bin/kinesis-export

# jsii (under aws-cdk-lib) warns on every run when Node.js is past its end of life; it still works.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION = 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION = 1

.DEFAULT_GOAL := help
.PHONY: help demo test test-fast lint typecheck unit integration bench check backfill clean lock

# The environment is installed from the lock files: exact versions, checked against their hashes. uv (itself
# locked in requirements-bootstrap.lock) installs them: in seconds, where pip took a minute. The project itself
# is installed editable, without dependencies, for the kinesis-export command; its code stays in lambdas/ and cli/.
$(STAMP): requirements.lock requirements-bootstrap.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-bootstrap.lock
	$(UV) pip sync --python $(PY) --require-hashes --compile-bytecode --quiet requirements.lock
	$(UV) pip install --python $(PY) --no-deps --quiet -e .
	touch $@

## help: list the targets (from their `## target: text` comments); needs nothing installed
help:
	@awk '/^## [a-z][a-z-]*: / { sub(/^## /, ""); split($$0, part, ": "); sub(/^[^:]*: /, ""); printf "  %-14s %s\n", part[1], $$0 }' $(MAKEFILE_LIST)

## demo: run the sample events through the exporter against a local Kinesis (moto's server)
demo: $(STAMP)
	$(KINESIS_EXPORT) demo --config destinations/example.json --events events

## test: lint, type-check and run every test, on every core (what CI runs)
test: lint typecheck $(NODE_STAMP)
	$(PY) -m pytest -n auto -m "not container"

## test-fast: the same, less the soak tests (marked soak: minutes of faults or 100,000 lines)
test-fast: lint typecheck $(NODE_STAMP)
	$(PY) -m pytest -n auto -m "not soak and not container"

## lint: ruff's lint and format check
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

## typecheck: mypy, strict, on lambdas/, cli/ and infra/
typecheck: $(STAMP)
	$(PY) -m mypy

## unit: the unit tests only (nothing beyond loopback)
unit: $(STAMP)
	$(PY) -m pytest -n auto tests/unit

## integration: the integration tests only (moto's server on loopback)
integration: $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest -n auto tests/integration

## lock: pin every dependency again, from the requirements*.txt ranges into the lock files (uv pip compile)
lock: $(STAMP)
	$(UV) pip compile requirements-dev.txt $(LOCK_OPTIONS) -o requirements.lock
	$(UV) pip compile requirements-bootstrap.txt $(LOCK_OPTIONS) -o requirements-bootstrap.lock

## clean: remove the virtual environment and caches
clean:
	rm -rf $(VENV) $(SAM_VENV) .pytest_cache .mypy_cache .ruff_cache cdk.out build *.egg-info

# Infrastructure (README, "Deploying to AWS"). Synthesis works offline, without AWS credentials; diff and
# deploy use your credentials. DESTINATIONS=<file or folder> picks configs (default: destinations/).
DESTINATIONS ?=
CDK := npx cdk$(if $(DESTINATIONS), -c destinations=$(DESTINATIONS))
STACK ?= KinesisExport-crm-prospects
EVENT ?= events/sqs-segment-events.json

.PHONY: synth diff deploy local-deploy sam-invoke sam-test

# The aws-cdk CLI pinned in package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

## synth: one CloudFormation template per destination in cdk.out, checked by cdk-nag
synth: $(STAMP) $(NODE_STAMP)
	$(CDK) synth --quiet

## diff: what `make deploy` would change in the account and region of your credentials
diff: $(STAMP) $(NODE_STAMP)
	$(CDK) diff 'KinesisExport-*'

## deploy: deploy every destination's export stack (bootstrap the account and region once first)
## An access stack (assumeRole) in another account is deployed there first: README, "Credentials modes".
deploy: $(STAMP) $(NODE_STAMP)
	$(CDK) deploy 'KinesisExport-*'

## local-deploy: deploy every destination with npx cdk onto a local AWS cloud (moto), and run the samples through it
local-deploy: $(STAMP) $(NODE_STAMP)
	$(PY) -m kinesis_export_cli.localdeploy $(if $(DESTINATIONS),--destinations $(DESTINATIONS))

# SAM CLI in an environment of its own (it pins boto3 exactly), from its lock.
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
$(SAM_STAMP): sam/requirements.lock $(STAMP)
	$(PYTHON) -m venv $(SAM_VENV)
	$(UV) pip sync --python $(SAM_VENV)/bin/python --require-hashes --compile-bytecode --quiet sam/requirements.lock
	touch $@

## sam-invoke: the function run by SAM CLI in a container on a sample event, against a local Kinesis (STACK=, EVENT=)
sam-invoke: synth $(SAM_STAMP)
	$(PY) -m kinesis_export_cli.saminvoke --template cdk.out/$(STACK).template.json --event $(EVENT)

## sam-test: the container tests (SAM CLI, Docker: installed and started if missing, as root); CI runs them
sam-test: $(STAMP) $(NODE_STAMP) $(SAM_STAMP)
	sam/engine.sh
	$(PY) -m pytest -m container tests/containers

## bench: the exporter against a naive peer and the bare SDK, in one run (figures, not a test; results in bench/results/)
bench: $(STAMP)
	$(PY) bench/run.py

## check: a destination's credentials, stream and permissions, as the function will use them (CONFIG=..., PROBE=1)
check: $(STAMP)
	$(KINESIS_EXPORT) check $(CONFIG) $(if $(PROBE),--probe)

## backfill: export every member listed in FILE (JSON Lines, .gz, or s3://bucket/key) for CONFIG
## (RESTART=1: discard FILE's checkpoint and export it from its first line; PROFILE_TABLE=: with profileState, its table)
backfill: $(STAMP)
	$(KINESIS_EXPORT) backfill $(CONFIG) $(FILE) $(if $(RESTART),--restart) $(if $(PROFILE_TABLE),--profile-table $(PROFILE_TABLE))
