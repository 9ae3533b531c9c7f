# Common commands; each runs with the tools of the active virtualenv (see CONTRIBUTING.md).
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: help install test test-pg lint format types migrations-check bench demo ci

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

install:  ## the hub with its development extras, editable
	pip install -e ".[dev]"

test:  ## the test suite on SQLite
	pytest

test-pg:  ## the test suite on PostgreSQL (PG_URL; its role needs CREATEDB)
	PLATFORM_HUB_TEST_DATABASE_URL="$(PG_URL)" pytest

lint:  ## ruff (lint, and the formatting CI checks) and the import contract
	ruff check .
	ruff format --check platform_hub adapters
	lint-imports

format:  ## ruff: fix what it can and format
	ruff check --fix .
	ruff format platform_hub adapters

types:  ## mypy, strict on platform_hub/
	mypy

migrations-check:  ## alembic check on a fresh SQLite database: the models and the migrations agree
	@scratch=$$(mktemp -d) && trap 'rm -rf "$$scratch"' EXIT && \
	PLATFORM_HUB_DATABASE_URL="sqlite:///$$scratch/check.db" platform-hub db upgrade && \
	PLATFORM_HUB_DATABASE_URL="sqlite:///$$scratch/check.db" alembic -c platform_hub/alembic.ini check

bench:  ## every benchmark, one table of figures beside their goals (BENCH=linkage,batch for some; needs PostgreSQL)
	python -m benchmarks $(if $(BENCH),--only $(BENCH))

demo:  ## the demo city, end to end, serving until Ctrl-C
	platform-hub demo

ci:  ## what CI runs, in a fresh virtualenv (starts PostgreSQL and Redis if they are down)
	.ci/run
