# Two commands do all the set-up on a fresh machine:
#   make demo   builds the demo mesh and serves the portal
#   make test   runs the whole test suite (what .ci/run calls)
# Installs are reproducible: requirements/*.lock pin every package (regenerate with `make lock`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
UV_VERSION := 0.13.9
PORT ?= 8000
# Install packages with their bytecode compiled, as pip does (uv does not by default): every `meshplane`
# command otherwise compiles each module it imports again, when the environment sets
# PYTHONDONTWRITEBYTECODE or site-packages is read-only (about half a second of every command).
export UV_COMPILE_BYTECODE := 1
# meshplane itself is installed editable (its modules stay in src/): compile them once at install too.
COMPILE_SRC = $(BIN)/python -m compileall -q src

.PHONY: demo test lint install install-demo lock

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The demo needs only the runtime dependencies (no Spark, no test tools).
$(VENV)/.demo-installed: requirements/demo.lock pyproject.toml | $(UV)
	$(UV) pip sync --quiet --python $(BIN)/python requirements/demo.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	$(COMPILE_SRC)
	touch $@

$(VENV)/.test-installed: requirements/test.lock pyproject.toml | $(UV)
	$(UV) pip sync --quiet --python $(BIN)/python requirements/test.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	$(COMPILE_SRC)
	rm -f $(VENV)/.demo-installed
	touch $@

install-demo: $(VENV)/.demo-installed

install: $(VENV)/.test-installed

lock: | $(UV)
	$(UV) pip compile --quiet --python-version 3.11 pyproject.toml --all-extras -o requirements/test.lock
	$(UV) pip compile --quiet --python-version 3.11 pyproject.toml -c requirements/test.lock -o requirements/demo.lock

demo:
	@if [ -f $(VENV)/.test-installed ]; then $(MAKE) --no-print-directory install; else $(MAKE) --no-print-directory install-demo; fi
	$(BIN)/meshplane demo demo-mesh --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install lint
	bash .ci/pytest.sh
