# Two entry points: `make demo` and `make test` (and `make lint`, `make bench`, `make mutate`). Each creates the virtual
# environment on first use, so a fresh machine needs nothing but Python 3.10+.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint mutate bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,embeddings,cli]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m redis_semcache demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check redis_semcache tests bench
	$(VENV)/bin/mypy
	$(PY) tests/check_import_cycles.py redis_semcache

# The quick head-to-head with RedisVL (1k and 10k entries, 1-2 minutes): bench/README.md says
# which script answers which other question.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,embeddings,cli,bench]"
	$(PY) -m bench.bench_ops --head-to-head --quick

# Mutation testing (mutmut): about 25-30 minutes on a quiet 2-core machine (docs/testing.md); not run by CI (.ci/run).
mutate: $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,embeddings,cli,mutate]"
	$(PY) -m tests.mutation

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache mutants
