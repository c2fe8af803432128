# The two commands: `make run` serves the app, `make test` runs the whole suite.
# Both create .venv on first use and refresh it whenever pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Under CI=true the suite runs against the real PostgreSQL; elsewhere SQLite unless set.
ifeq ($(CI),true)
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
endif
export REDIS_TEST_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test bench lint format venv clean screenshots

run: $(STAMP)
	$(PY) -m config.devserver

test: $(STAMP)
	@.ci/chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m pytest -m benchmark -s -q tests/benchmarks

# The docs' screenshots, docs/screenshots/<page>-390.png and -1440.png, taken by the browser
# sweep of every page (tests/e2e/test_phone_layout.py; the other pages go to var/screenshots/),
# and environments.png by the environments scenario (tests/e2e/test_environments.py).
screenshots: $(STAMP)
	SCREENSHOTS_UPDATE=1 $(PY) -m pytest -q -p no:cacheprovider tests/e2e/test_environments.py \
		tests/e2e/test_phone_layout.py -k "owner or environments"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

venv: $(STAMP)

# The first install takes about a minute: say so, and let pip show what it fetches.
$(STAMP): pyproject.toml
	@test -x $(PY) || { echo "Creating $(VENV) with $(PYTHON)..."; $(PYTHON) -m venv $(VENV); }
	@echo "Installing the dependencies pinned in pyproject.toml into $(VENV) (about a minute the first time)..."
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)
	@echo "$(VENV) is ready."

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
