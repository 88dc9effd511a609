# Two commands a newcomer needs:  `make run` (set up, then run the daemon on feeds.yaml with an SQLite file
# next to it) and `make test` (set up, then run the whole test suite).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BENCHMARKS := ingest dedup dedup_eval wire_eval story_eval regroup_eval tagging topic_eval near retention history year_of_data freshness ssrf soak
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run poll test lint bench $(addprefix bench-,$(BENCHMARKS)) screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[postgres,test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/monitor --config feeds.yaml run

poll: install
	$(BIN)/monitor --config feeds.yaml poll

# The suite runs in parallel worker processes, one per core up to four (pytest-xdist): half its time is spent
# waiting on servers, deadlines and daemons, which a second worker fills. `PYTEST_ARGS="-n 0"` runs it serially.
test: install
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist worksteal $(PYTEST_ARGS)

# CI's gates before the tests: lint (a deliberate rule set in pyproject.toml), format, types, import layers.
lint: install
	$(BIN)/ruff check monitor tests bench migrations
	$(BIN)/ruff format --check monitor tests bench migrations
	$(BIN)/mypy
	$(BIN)/lint-imports

# Each benchmark is one command; `make bench` runs them all (several minutes each at full size).
bench: $(addprefix bench-,$(BENCHMARKS))

$(addprefix bench-,$(BENCHMARKS)): bench-%: install
	$(BIN)/python bench/$*.py $(BENCH_ARGS)

# Renders a sample digest and screenshots it at 375 px and desktop width (needs Debian's chromium).
screenshots: install
	MONITOR_SCREENSHOT_DIR=$(or $(SCREENSHOT_DIR),bench/out/screenshots) $(BIN)/python -m pytest -q tests/test_notify_screenshot.py

clean:
	rm -rf $(VENV) .pytest_cache bench/out
