# migralink: `make demo` and `make test` work on a fresh clone with only python3, pip and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat constraints.txt pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=
UV_VERSION := 0.13.9

# Python keeps compiled modules (__pycache__, ignored by git) even where the environment says not to: otherwise every
# process of the suite (three workers, the nights' subprocesses, Airflow's task processes) compiles the project and
# its libraries again, and pytest rewrites every test module again (collection 27 s -> 15 s a worker).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install demo airflow test lint typecheck docker-check unit bench lock clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# Debian's packages the tests use, when missing, in one apt run beside the Python packages: a Java runtime (the
	@# Spark backend's test), chromium (the reports' browser tests), docker-compose (the offline compose-file check).
	@# uv installs the same pinned set as pip in a quarter of the time (42 s against 185 s, measured on a fresh
	@# cache); pip does it when uv cannot be had.
	@need=$$(for pair in java:openjdk-17-jre-headless chromium:chromium docker-compose:docker-compose; do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || printf ' %s' $${pair#*:}; done); \
	if [ -n "$$need" ]; then echo "installing Debian's$$need (log: $(VENV)/apt.log)"; \
	  { apt-get update -qq && apt-get install -y -qq $$need; } > $(VENV)/apt.log 2>&1 & fi; \
	{ $(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)" \
	  && $(BIN)/uv pip install --python $(BIN)/python --quiet -c constraints.txt -e ".[airflow,spark,dev]"; } \
	|| $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[airflow,spark,dev]"; \
	status=$$?; wait; \
	command -v java >/dev/null 2>&1 || echo "no Java runtime: the Spark parity test will be skipped"; \
	command -v chromium >/dev/null 2>&1 || echo "no chromium: the browser tests of the HTML reports will be skipped"; \
	exit $$status
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/migralink demo --dir demo

# Airflow standalone on 127.0.0.1 (AIRFLOW_PORT, default 8080) with the DAGs and a demo; Ctrl-C stops it.
airflow: install
	bash scripts/airflow.sh

lint: install
	$(BIN)/ruff check pipeline privacy linkage expectations dags tests bench
	$(BIN)/ruff format --check pipeline privacy linkage expectations dags tests bench

typecheck: install
	$(BIN)/mypy

docker-check: install
	@command -v docker-compose >/dev/null 2>&1 || { \
	  echo "installing Debian's docker-compose (offline compose-file validation)"; \
	  apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null; }
	PATH="$(CURDIR)/$(BIN):$$PATH" bash docker/check.sh

# Three workers on two cores: a quarter of the suite's time is spent waiting on other processes (Airflow, the
# killed nights, Spark's JVM), which a third worker fills. Whole modules go to a worker (a module's fixtures are
# built once), in the order tests/conftest.py gives them: the modules with long tests first (xdist would
# otherwise begin with the modules of many tests, and the long ones would run alone at the end).
unit: install
	$(BIN)/python -m pytest -n 3 --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

# The type check (about 25 s of one core) runs beside the suite.
test: lint docker-check
	@$(MAKE) --no-print-directory -j2 typecheck unit

bench: install
	$(BIN)/python bench/bench_foundation.py
	$(BIN)/python bench/bench_pseudonymize.py
	$(BIN)/python bench/bench_bloom.py --no-grid
	$(BIN)/python bench/bench_linkage.py
	$(BIN)/python bench/bench_linkage.py --persons 23700 --compare
	$(BIN)/python bench/bench_linkage.py --large
	$(BIN)/python bench/bench_nightly.py
	$(BIN)/python bench/bench_night.py --reference
	$(BIN)/python bench/bench_thresholds.py
	$(BIN)/python bench/bench_migration_rule.py
	$(BIN)/python bench/bench_statistics.py
	$(BIN)/python bench/bench_histories.py

# Re-pin every dependency after changing pyproject.toml (needs the registry).
lock:
	rm -rf /tmp/migralink-lock && $(PYTHON) -m venv /tmp/migralink-lock
	/tmp/migralink-lock/bin/pip install --quiet -e ".[airflow,spark,dev]"
	/tmp/migralink-lock/bin/pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache
