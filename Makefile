# Every target bootstraps what it needs: a virtualenv in .venv with this
# package, psutil, pytest and pytest-timeout installed into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
IPC := $(PY) -m ipc
# The demo names come from the catalog, which needs nothing but the standard library.
DEMOS := $(shell $(PYTHON) -m ipc.catalog)

.DEFAULT_GOAL := help
.PHONY: help venv build demo deadlock trace pictures test lint bench list readme docs clean $(DEMOS)

help: ## show the targets (the default)
	@echo "make TARGET, where TARGET is one of:"
	@grep -E '^[a-z][a-z0-9_-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([^:]*):.*## /  \1\t/' | expand -t 14
	@echo "or a demo's name, to run that one demo (make list shows them all):"
	@echo "  $(DEMOS)" | fold -s -w 76 | sed '2,$$s/^/  /'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

venv: $(VENV)/.installed ## create .venv and install what the project needs

build: ## compile the C twins (demos/c/*.c) into build/: cc -Wall -Wextra -O2 -gdwarf-4; without cc, says how to get it
	@$(PYTHON) -m ipc.cprograms

demo: venv build ## run every demo at once (one per CPU), check it, draw it: report/index.html
	$(IPC) run all --report report

deadlock: venv ## every broken demo: its deadlock explained, then its fix; then ipc watch on two
	$(IPC) run deadlocks --verbose
	@echo "== ipc watch on a shell pipeline that deadlocks (exit code 3 expected)"
	$(IPC) watch -- sh demos/broken/pipeline_loop.sh; test $$? -eq 3
	@echo "== ipc watch on the classic subprocess deadlock, in a program not written for this project"
	$(IPC) watch -- $(PY) tests/programs/writes_all_then_reads.py; test $$? -eq 3

trace: venv ## the pipe demo's real system calls, drawn (ipc trace pipe; see README)
	$(IPC) trace pipe

pictures: venv ## redraw the README's pictures from real traces: docs/pipe.svg, docs/tcp4-slide-*.svg
	$(IPC) trace pipe --svg docs/pipe.svg > /dev/null
	$(IPC) trace tcp4 --svg docs/tcp4-slide.svg --steps 10-25 --fit 1280x720 > /dev/null

test: venv lint build ## run the linter, then the test suite
	$(PY) -m pytest

lint: venv ## ruff: the linter and the formatter's check, as configured in pyproject.toml
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: venv ## measure every mechanism (about 4 minutes): table, bench/results.json, bench/chart.svg
	$(IPC) bench --json bench/results.json --svg bench/chart.svg

list: venv ## list the demos
	$(IPC) list

readme: venv ## rewrite the README's demo table from the catalog
	$(IPC) list --update-readme README.md

docs: venv ## rewrite docs/cli.md, the command-line reference, from the program's own --help
	$(PY) -m ipc.reference > docs/cli.md

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache *.egg-info build
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

$(DEMOS): venv build
	$(IPC) run $@
