# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv and install the pinned dependencies (constraints.txt) the first time.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := demo
PYTEST_ARGS ?=

.PHONY: install demo demo-clean test test-fast lint compile clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, found {sys.version.split()[0]}"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[all,dev]"
	touch $(STAMP)

# A real 10-trial study on water potability, through KFP's local runner, recorded in MLflow (SQLite).
demo: install
	mkdir -p $(DEMO_DIR)
	cd $(DEMO_DIR) && ../$(BIN)/agenthpo tune ../examples/water-potability.yaml
	cd $(DEMO_DIR) && ../$(BIN)/agenthpo report water-potability
	@echo
	@echo "Open the MLflow UI on this study:"
	@echo "  $(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/$(DEMO_DIR)/mlflow.db --port 5000"
	@echo "(make demo again resumes the same study; make demo-clean starts over)"

demo-clean:
	rm -rf $(DEMO_DIR)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Everything but whole studies and servers (seconds).
test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src components pipelines tracking tests

compile: install
	$(BIN)/agenthpo compile examples/water-potability.yaml -o water-potability.pipeline.yaml

clean:
	rm -rf $(VENV) .agenthpo .pytest_cache .ruff_cache *.egg-info src/*.egg-info
