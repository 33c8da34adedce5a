# Every target creates .venv on first use and installs what it needs, so a fresh
# machine with Python 3.11 and make is enough.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo serve worker test lint typecheck bench bench-sync bench-initial-sync bench-poll install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m yoyaku.demo

# Production: the web processes under gunicorn and a background worker (README, "Deploy").
serve: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/gunicorn -c python:yoyaku.gunicorn_conf yoyaku.wsgi

worker: $(STAMP)
	$(BIN)/python manage.py run_huey

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	YOYAKU_TEST_DATABASE=postgresql $(BIN)/python -m pytest -m postgres $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check yoyaku tests bench
	$(BIN)/mypy yoyaku

bench: $(STAMP)
	$(BIN)/python -m bench.run

bench-sync: $(STAMP)
	$(BIN)/python -m bench.busy_index

bench-initial-sync: $(STAMP)
	for source in google graph radicale; do $(BIN)/python -m bench.initial_sync $$source || exit 1; done

bench-poll: $(STAMP)
	$(BIN)/python -m bench.poll_cycle

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var
