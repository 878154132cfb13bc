# Two commands on a fresh machine: `make demo` and `make test`. Both set up first.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.neuroforge-installed
# Offline by construction: no hub downloads, no telemetry, no version checks.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export LANGGRAPH_CLI_NO_ANALYTICS := 1
export LANGGRAPH_NO_VERSION_CHECK := 1
export LANGSMITH_TRACING := false

.PHONY: setup demo test test-unit bench lint clean

setup: $(STAMP)

# torch first: `torch==2.13.0` resolves to the local CPU wheel; installing the
# package before it would pull the CUDA build from the registry.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/neuroforge demo

test: setup
	$(PY) -m pytest -q -p no:cacheprovider

test-unit: setup
	$(PY) -m pytest -q -m "not embedded and not server"

bench: setup
	$(PY) -m benchmarks

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy neuroforge agents graphs tools memory knowledge

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .langgraph_api
