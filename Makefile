# The two entry points: `make test` and `make demo`. On a fresh clone each does all its set-up.
#
#   make test   the Debian packages of packaging/system-packages.txt (apt-get, as root; otherwise
#               it names what is missing and those tests skip), .venv with the test extra, the
#               systemd-python oracle where it builds, then ruff, mypy and pytest
#   make demo   .venv with the runtime dependencies only (needs nothing but Python), then the demo
#               on http://127.0.0.1:8000/ (DEMO_ARGS='--listen 127.0.0.1:9000' to change it)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEMO_ARGS ?=

.PHONY: test setup system-packages oracle demo lint typecheck pytest bench clean

test: setup lint typecheck pytest

# everything `make test` installs, without running the tests
setup: system-packages $(STAMP) oracle

system-packages:
	@packaging/install-system-packages packaging/system-packages.txt

# the system packages come first: the oracle builds against libsystemd-dev
$(STAMP): pyproject.toml | system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP) $(RUNTIME_STAMP)

# systemd-python may not build here (no libsystemd-dev, no compiler): never a failed set-up
oracle: $(STAMP)
	@packaging/install-oracle $(BIN)/python

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest

$(RUNTIME_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME_STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/socket-activation demo $(DEMO_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/startup.py

clean:
	rm -rf $(VENV) dist build .mypy_cache .ruff_cache .pytest_cache
