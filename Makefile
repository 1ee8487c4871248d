# Two commands set everything up on a fresh machine: `make test` and `make demo`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test test-scale test-interop test-ray lint typecheck pytest demo bench bench-http docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check pynector tests examples benchmarks
	$(BIN)/ruff format --check pynector tests examples benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict pynector

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

# The million-item scale proofs (minutes, not seconds); CI runs them after `make test`. The 10-million
# item test stays opt-in: `.venv/bin/python -m pytest -m slow`.
test-scale: $(STAMP)
	$(BIN)/python -m pytest -q -m slow -k "not ten_million and not ray" -s --ignore=tests/test_ray.py

# pynector.ray on a local Ray instance (installs the ray extra, ~1 minute, then ~1 minute of tests).
RAY_STAMP := $(VENV)/.ray-stamp
$(RAY_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[ray]'
	touch $(RAY_STAMP)

test-ray: $(RAY_STAMP)
	PYNECTOR_REQUIRE_RAY=1 $(BIN)/python -m pytest -q -m "slow or not slow" tests/test_ray.py \
		tests/test_examples.py -k "ray"

# The manual (mkdocs + Material + mkdocstrings), built into site/ with warnings as errors.
DOCS_STAMP := $(VENV)/.docs-stamp
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet -d site

# The interop suite (tests/interop/) against real nginx, redis-server and memcached. The servers come from
# the Debian packages, installed here when missing and running as root (otherwise the tests that need
# them are skipped, with the reason); the test fixtures start them on free loopback ports with the configs
# in tests/interop/ and stop them at the end. PYNECTOR_REQUIRE_INTEROP=1 (CI) turns those skips into
# failures.
INTEROP_PACKAGES := nginx redis-server memcached  # each installs a binary of its own name

test-interop: $(STAMP)
	@export PATH="$$PATH:/usr/local/sbin:/usr/sbin:/sbin"; missing=""; \
	for package in $(INTEROP_PACKAGES); do \
		command -v $$package >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	if [ -z "$$missing" ]; then \
		echo "interop servers: installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "interop servers: installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			-o DPkg::Lock::Timeout=300 --no-install-recommends $$missing; \
	else \
		echo "interop servers: not installing$$missing (needs root and apt-get); their tests will skip"; \
	fi
	PATH="$$PATH:/usr/local/sbin:/usr/sbin:/sbin" $(BIN)/python -m pytest -q -m interop tests/interop

demo: $(STAMP)
	$(BIN)/pynector demo

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# Just the HTTP benchmark (pynector "http" against aiohttp, httpx and a minimal h11 client); nginx is
# used, and installed when running as root with apt-get, else a canned server. About 3 minutes.
bench-http: $(STAMP)
	$(BIN)/python benchmarks/http_bench.py

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache .hypothesis
