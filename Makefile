# The two commands: `make run` (embedded default, nothing but Python) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# mypy checks the tests and the benchmarks too (the same list is `files` in .ci/mypy.ini).
MYPY_PATHS := notifyproject notifications preferences clients/python/notify_client tests bench
# `make review` shows the code repeated by everything since the branch left this one.
REVIEW_BASE ?= main

.PHONY: run test lint review bench install install-dev clean cluster cluster-test

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed tests/requirements.txt
	$(PY) -m pip install -q -r tests/requirements.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py seed_demo
	@echo ""
	@echo "  Open http://$(HOST):$(PORT)/ and log in as alice (password demo-pass-123)."
	@echo "  Send her a notification from another terminal:"
	@echo "    $(PY) manage.py notify --to alice --category comment --title 'Hello'"
	@echo ""
	exec $(PY) -m notifyproject.serve -e tcp:port=$(PORT):interface=$(HOST):backlog=4096 --websocket_connect_timeout 30 --websocket-max-message-size 65536 --websocket-max-frame-size 65536 notifyproject.asgi:application

test: $(VENV)/.installed-dev
	$(PY) -m pytest -c tests/pytest.ini --rootdir . $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --config .ci/ruff.toml .
	$(VENV)/bin/ruff format --config .ci/ruff.toml --check .
	$(VENV)/bin/mypy --config-file .ci/mypy.ini $(MYPY_PATHS)
	DJANGO_SETTINGS_MODULE=notifyproject.settings.base $(VENV)/bin/lint-imports --config .ci/importlinter.ini

# Before you stop: the duplicate-code check on what the branch added (a developer tool, not in CI: skipped with a
# message where it is not installed; it never fails the target), then ruff and mypy.
review: $(VENV)/.installed-dev
	@if command -v duplicates >/dev/null 2>&1; then \
		duplicates --change --base "$$(git merge-base HEAD $(REVIEW_BASE) 2>/dev/null || echo HEAD)" --most 20; \
	else \
		echo "review: the 'duplicates' tool is not installed here: duplicate-code check skipped"; \
	fi
	$(VENV)/bin/ruff check --config .ci/ruff.toml .
	$(VENV)/bin/ruff format --config .ci/ruff.toml --check .
	$(VENV)/bin/mypy --config-file .ci/mypy.ini $(MYPY_PATHS)

# Several hosts on this machine (network namespaces; root, haproxy, pgbouncer, redis-server, rabbitmq-server,
# PostgreSQL): up until Ctrl-C, then removed (docs/scaling.md). `cluster-test` runs the tests on it (they also run
# inside `make test` on PostgreSQL).
cluster: $(VENV)/.installed-dev
	$(PY) -m tests.cluster

cluster-test: $(VENV)/.installed-dev
	$(PY) -m pytest -c tests/pytest.ini --rootdir . tests/cluster $(PYTEST_ARGS)

bench: $(VENV)/.installed-dev
	$(PY) -m bench

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
