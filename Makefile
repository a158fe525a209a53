# Two commands do all the set-up on a fresh machine:
#   make demo   builds the demo mesh and serves the portal
#   make test   runs the whole test suite (what .ci/run calls)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install

$(BIN)/meshplane: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $(BIN)/meshplane

install: $(BIN)/meshplane

demo: install
	$(BIN)/meshplane demo demo-mesh

lint: install
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install lint
	bash .ci/pytest.sh
