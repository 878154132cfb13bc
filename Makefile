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

.PHONY: setup servers demo test test-unit bench lint clean

setup: $(STAMP)

# llama.cpp compiles for this CPU (-march=native) minus AMX: on AMX Xeons its AMX
# matrix kernels crash (SIGSEGV at ldtilecfg, seen under a Firecracker VM), and a
# 135M model gains nothing from them; elsewhere the flags change nothing. It is built
# apart with --no-cache-dir, so that pip never reuses a wheel it compiled before for
# another CPU or without these flags. The requirement is read from pyproject.toml.
NO_AMX := $(if $(filter x86_64,$(shell uname -m)),-mno-amx-tile -mno-amx-int8 -mno-amx-bf16)
LLAMA_REQ = $$($(PY) -c "import tomllib; print(next(r for r in tomllib.load(open(\
    'pyproject.toml', 'rb'))['project']['optional-dependencies']['dev'] if r.startswith('llama')))")

# Stamped apart, so a venv made before these flags is rebuilt once, with them. No deps
# here: the install below brings them, after torch.
LLAMA_STAMP := $(VENV)/.llama-cpp-no-amx
$(LLAMA_STAMP):
	test -x $(PY) || python3 -m venv $(VENV)
	CFLAGS="$(NO_AMX)" CXXFLAGS="$(NO_AMX)" $(PY) -m pip install --no-cache-dir \
	    --force-reinstall --no-deps "$(LLAMA_REQ)"
	touch $(LLAMA_STAMP)

# torch first: `torch==2.13.0` resolves to the local CPU wheel; installing the
# package before it would pull the CUDA build from the registry.
$(STAMP): pyproject.toml $(LLAMA_STAMP)
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

# Debian's PostgreSQL server programs, for the store suite on PostgreSQL and the worker
# benchmark: the tests start a throw-away cluster on a free port and stop it at the end.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
servers:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian's postgresql (server programs for the tests)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null; }

demo: setup
	$(VENV)/bin/neuroforge demo

test: setup servers
	$(PY) -m pytest -q -p no:cacheprovider

# What runs with no embedded model, no servers and no package registry: a clone
# with nothing beside it passes this.
test-unit: setup
	$(PY) -m pytest -q -p no:cacheprovider -m "not embedded and not server and not wheel"

# The `bench` extra's requirements on their own, against the installed environment
# (seconds): `pip install -e '.[bench]'` re-resolves the whole project and backtracked
# for over 7 minutes through boto3 versions. The pins are explained in pyproject.toml.
bench: setup servers
	$(PY) -m pip install -q $$($(PY) -c "import tomllib; print(' '.join(tomllib.load(\
	    open('pyproject.toml', 'rb'))['project']['optional-dependencies']['bench']))")
	$(PY) -m benchmarks

# mypy cannot follow setuptools' editable import hook (every neuroforge.* import would
# be Any), so it checks the package as it installs: the wheel's layout, in build/.
lint: setup
	$(VENV)/bin/ruff check .
	rm -rf build/typecheck
	$(PY) -m pip install -q --no-deps --no-build-isolation --target build/typecheck .
	cd build/typecheck && ../../$(VENV)/bin/mypy --config-file ../../pyproject.toml -p neuroforge

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .langgraph_api
