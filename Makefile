# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both install into .venv (re-using pip's cache) and fetch data into $(FUTE_CACHE).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fute-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export FUTE_CACHE ?= $(HOME)/.cache/fute

.PHONY: install demo test test-quick lint format bench bench-speed bench-prompts bench-transfer clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch is pinned to the local CPU wheel; install it first so nothing pulls CUDA builds
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,hub,llamacpp]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/fute demo

test: $(STAMP)
	# the report test renders the HTML page in Debian's headless chromium
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(BIN)/fute data prepare --quiet
	$(BIN)/python -m pytest -q tests

test-quick: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" -x tests

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: bench-speed bench-prompts bench-transfer

bench-speed: $(STAMP)
	$(BIN)/python benchmarks/bench_fisher_speed.py
	$(BIN)/python benchmarks/bench_llm_scoring.py
	$(BIN)/python benchmarks/bench_llm_scoring.py --prompt sent-tone --out llm_scoring_instruction_first
	$(BIN)/python benchmarks/bench_projection.py

bench-prompts: $(STAMP)
	$(BIN)/python benchmarks/bench_prompt_selection.py

bench-transfer: $(STAMP)
	$(BIN)/python benchmarks/bench_transfer.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
