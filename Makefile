# spectool: two commands do everything on a fresh machine.
#   make demo   create .venv, install, make every paper figure/table and run the notebooks on the
#               embedded synthetic mock survey (MODE=quick default; MODE=medium ~2 h CPU; MODE=full GPU)
#   make test   create .venv, install, run the tests
# torch is installed first with an overridable pin so you can choose your CUDA build, e.g.
#   make demo TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.spectool-installed
# every other package is pinned: a fresh install gets what CI tested (refresh: make lock)
CONSTRAINTS ?= requirements/constraints.txt
# smoke | quick | medium | full (see README "Modes")
MODE       ?= quick

# clear outputs and execution counts of code cells in place (only files that have any)
define STRIP_OUTPUTS
import sys, nbformat
for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if any(c.outputs or c.execution_count is not None for c in code):
        for c in code:
            c.outputs, c.execution_count = [], None
        nbformat.write(nb, path)
endef
export STRIP_OUTPUTS

.PHONY: venv demo test test-slow lab figures notebooks clean bench lock

$(STAMP): pyproject.toml Makefile $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip==$$(sed -n 's/^pip==//p' $(CONSTRAINTS))"
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m spectool.demo --mode $(MODE) --out demo_output

# make test: the whole suite except the heavy cases (about 4 min on 2 cores after the install);
# make test-slow: those heavy cases (every notebook executed in smoke mode, the live JupyterLab
# test, Dask clusters and SIGKILL subprocesses; about 6 min). CI (.ci/run) runs both.
test: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not notebooks"

test-slow: $(STAMP)
	$(PY) -m pytest -q -m "slow or notebooks"

lab: $(STAMP)
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e ".[lab]"
	$(VENV)/bin/jupyter lab notebooks/

figures: $(STAMP)
	$(VENV)/bin/spectool figures --mode $(MODE) --out figures

# The notebooks are jupytext pairs (jupytext.toml): notebooks/NN_name.py (percent script) and
# notebooks/NN_name.ipynb. Edit either (JupyterLab with jupytext keeps both), then this syncs
# the other from the newer one and strips outputs from the stored .ipynb (CI checks both).
notebooks: $(STAMP)
	$(VENV)/bin/jupytext --sync notebooks/[0-9][0-9]_*.ipynb notebooks/[0-9][0-9]_*.py
	$(PY) -c "$$STRIP_OUTPUTS" notebooks/[0-9][0-9]_*.ipynb
	touch notebooks/[0-9][0-9]_*.py

bench: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) demo_output figures .pytest_cache

# Re-resolve every dependency from scratch (newest releases allowed by pyproject.toml) in a
# throw-away venv and rewrite the constraints file; run the tests before committing it.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --upgrade pip
	.lock-venv/bin/python -m pip install -q $(TORCH_SPEC)
	.lock-venv/bin/python -m pip install -q -e ".[test,dask,lab]"
	{ echo "# Pinned versions of every package a fresh 'make test' installs (torch excluded: TORCH_SPEC chooses it)."; \
	  echo "# Used as a pip constraints file by the Makefile; regenerate with 'make lock' (see README)."; \
	  .lock-venv/bin/python -m pip freeze --all --exclude-editable | grep -vE '^(torch==|spectool)'; } > $(CONSTRAINTS)
	rm -rf .lock-venv
