# The README's two commands: `make run` (the chat UI) and `make test` (the whole suite).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: setup run test test-slow lint bench browser-deps

setup: $(VENV)/.installed

# torch first, pinned: it is the CPU build on these machines; a loose `torch` pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $@

run: setup
	$(VENV)/bin/assistant serve

# Debian's chromium for the browser test (never a browser download); skipped when not root.
browser-deps:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) \
	  || echo "could not install chromium; the browser test will be skipped"; fi

test: setup browser-deps
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q --runslow -m slow

lint: setup
	$(VENV)/bin/ruff check assistant tests
	$(VENV)/bin/mypy assistant

bench: setup
	$(VENV)/bin/assistant bench
