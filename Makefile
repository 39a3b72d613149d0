# The two commands a newcomer needs: `make demo` (the main job) and `make test` (every test).
# Both install whatever is missing into $(LAKEHOUSE_HOME) and are safe to run again.
LAKEHOUSE_HOME ?= $(CURDIR)/.lakehouse
export LAKEHOUSE_HOME
VENV := $(LAKEHOUSE_HOME)/venv
LH := $(VENV)/bin/lakehouse
PYTEST := $(VENV)/bin/python -m pytest
RUFF := $(VENV)/bin/ruff

.PHONY: setup demo test unit lint format up down status clean-home

setup:
	scripts/bootstrap
	$(LH) setup

demo: setup
	$(LH) demo

test: setup lint
	scripts/install-test-browser
	$(LH) stack up
	$(PYTEST) $(PYTEST_ARGS)

unit: setup
	$(PYTEST) -m unit $(PYTEST_ARGS)

lint: setup
	$(RUFF) check --no-cache .
	$(RUFF) format --check .

format: setup
	$(RUFF) format .
	$(RUFF) check --fix .

up: setup
	$(LH) stack up

down:
	@if [ -x $(LH) ]; then $(LH) stack down; fi

status:
	$(LH) stack status

clean-home: down
	rm -rf $(LAKEHOUSE_HOME)
