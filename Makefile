# Two commands on a fresh machine: `make demo` (the local sandbox) and `make test`.
# Each installs what it needs: a virtual environment with the pinned packages.
PYTHON ?= python3
# CPython 3.13 (the Lambda runtime's) as WebAssembly, from the npm registry: compiles the asset's bytecode.
PYODIDE_VERSION := 0.29.3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo sandbox test test-fast lint synth deploy bench clean

install: $(STAMP)

# Install progress goes to stderr: `make sandbox > file` keeps the endpoints line first.
$(STAMP): requirements.txt requirements-dev.txt lambdas/requirements.txt pyproject.toml
	@echo "install [1/6] virtual environment in $(VENV)" >&2
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "install [2/6] pip" >&2
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@echo "install [3/6] pinned packages (about 3 minutes the first time; pip lists each one as it goes)" >&2
	@bash -o pipefail -c "$(PY) -m pip install --disable-pip-version-check --progress-bar off \
		-r requirements-dev.txt | grep --line-buffered '^Collecting' | sed -u 's/^/    /' >&2"
	@echo "install [4/6] the autopilot CLI" >&2
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .  # the `autopilot` CLI
	@# Wheels of the Lambda asset for its platform (arm64, CPython 3.13): synthesis bundles offline from here.
	@echo "install [5/6] the Lambda asset's wheels (arm64, CPython 3.13) into $(VENV)/wheelhouse" >&2
	@$(PY) -m pip download --quiet --disable-pip-version-check --platform manylinux2014_aarch64 \
		--implementation cp --python-version 3.13 --only-binary=:all: -d $(VENV)/wheelhouse -r lambdas/requirements.txt
	@echo "install [6/6] CPython 3.13 as WebAssembly (pyodide, npm) to compile the asset's bytecode" >&2
	@npm install --silent --no-audit --no-fund --prefix $(VENV)/node pyodide@$(PYODIDE_VERSION)
	@# Started once here, on nothing: compile_pyc.mjs keeps the started interpreter's memory snapshot beside Pyodide,
	@# so the first synthesis that bundles starts from it too (3.7 -> 0.8 CPU-s a start, measured).
	@empty=$$(mktemp -d) && node stacks/components/compile_pyc.mjs $(VENV)/node/node_modules/pyodide "$$empty" \
		> /dev/null && rmdir "$$empty"
	@touch $(STAMP)
	@echo "install done" >&2

demo: install
	@$(PY) -m sandbox.demo

sandbox: install
	@$(PY) -m sandbox serve

# Whole modules to each of two workers (module-scoped setups run once; the synthesizing ones as one unit), in the
# order tests/conftest.py gives.
# Bytecode is written even where the environment says not to (PYTHONDONTWRITEBYTECODE=1): every worker and every
# synthesis subprocess would compile the same sources again (collection 9.4 -> 5.9 CPU-s per process measured).
# The Lambda asset never takes host bytecode (stacks/components/bundling.py excludes __pycache__).
test: install
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder

# The inner loop: the unit tests less the slow ones (tests/conftest.py says which and why); collecting only
# tests/unit spares importing the sandbox and the CDK. One process: each xdist worker would import and collect
# everything again, which costs more than the ~10 CPU-s of tests it would share (14 vs 24-29 CPU-s measured).
test-fast: install
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest tests/unit -m "not slow"

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
