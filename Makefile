# The two commands a new user needs: `make run` and `make test`. See README.md.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PORT ?= 8000
WECHAT_SANDBOX_PORT ?= 8765
export WECHAT_SANDBOX_PORT

.PHONY: run test install install-dev migrate seed lint format bench soak worker beat clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=python3"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

## Serve the API, the cashier page and admin on the embedded default, with the WeChat sandbox.
run: seed
	$(PY) manage.py run_demo --port $(PORT) --sandbox-port $(WECHAT_SANDBOX_PORT)

## Run the whole test suite (PostgreSQL and Redis when DATABASE_URL and REDIS_URL are set).
test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Load benchmarks against gunicorn + PostgreSQL + Redis + RabbitMQ on this machine (not run in CI).
bench: install-dev
	$(PY) -m bench

## Notification soak: two real workers, one killed midway (not run in CI).
soak: install-dev
	$(PY) -m bench.soak

worker: install
	$(VENV)/bin/celery -A backend worker --loglevel=INFO --concurrency=$${CELERY_CONCURRENCY:-4}

beat: install
	$(VENV)/bin/celery -A backend beat --loglevel=INFO

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm staticfiles
