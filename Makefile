# Two commands on a fresh machine: `make demo` (the local sandbox) and `make test`.
# Each installs what it needs: a virtual environment with the pinned packages.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo sandbox test test-fast lint synth deploy bench clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt lambdas/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .  # the `autopilot` CLI
	touch $(STAMP)

demo: install
	$(PY) -m sandbox.demo

sandbox: install
	@$(PY) -m sandbox serve

test: install
	$(PY) -m pytest -n 2 --dist loadfile

test-fast: install
	$(PY) -m pytest -n 2 --dist loadfile -m "not slow"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy lambdas sandbox stacks app.py autopilot_cli

synth: install
	$(PY) app.py

# Deploy with the CDK CLI from npm (needs AWS credentials): make deploy ARGS="-c alarmEmail=ops@example.org"
deploy: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" npx --yes aws-cdk@2 deploy $(ARGS)

bench: install
	$(PY) -m benchmarks

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
