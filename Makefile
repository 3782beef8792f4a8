# Two commands do all set-up on a fresh machine:
#   make demo   - virtualenv, install, migrate, seed pages/visitors, serve on :8000
#   make test   - virtualenv, install, lint, migrations check, the test suite
# With nothing set they use SQLite, eager Celery and a local-memory cache; set DATABASE_URL and
# REDIS_URL to run the same code on PostgreSQL and Redis (CI does).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
VISITORS ?= 800

.PHONY: demo test matrix mutants lint format schema bench bench-decide bench-render worker clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

demo: $(VENV)/.installed
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py seed_demo --visitors $(VISITORS)
	@echo "Demo: http://127.0.0.1:$(PORT)/  admin: http://127.0.0.1:$(PORT)/admin/ (admin / admin)"
	@echo "API key (demo, for the curl examples in docs/): $$(cat .demo-api-key)"
	DEBUG=1 $(PY) manage.py runserver 127.0.0.1:$(PORT)

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run
	@if command -v node >/dev/null 2>&1; then node --test tests/js/; else echo "node not found: tracker.js tests skipped"; fi
	$(PY) -m pytest

# The suite against every supported Wagtail and Python (noxfile.py; docs/install.md).
matrix: $(VENV)/.installed
	$(VENV)/bin/nox

# Mutation testing (docs/testing.md): a dev tool, installed on demand, so CI and users never
# install it. Runs on SQLite; which files and tests: [tool.mutmut] in pyproject.toml.
mutants: $(VENV)/.installed
	$(PY) -m pip install --quiet "mutmut==3.8.1"
	env -u DATABASE_URL -u REDIS_URL $(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/mutmut results

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check personalization

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format personalization

schema: $(VENV)/.installed
	DEBUG=1 $(PY) manage.py spectacular --urlconf personalization.api.schema_urls --file docs/openapi.yaml --validate

bench: $(VENV)/.installed
	$(PY) benchmarks/ingest.py

bench-decide: $(VENV)/.installed
	$(PY) benchmarks/decide.py

bench-render: $(VENV)/.installed
	$(PY) benchmarks/render.py

worker: $(VENV)/.installed
	DEBUG=1 $(VENV)/bin/celery -A cms_site worker -Q default,events,segments,training --beat --loglevel=info

clean:
	rm -rf $(VENV) .nox dist build db.sqlite3 static_collected
