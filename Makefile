# spectool: two commands do everything on a fresh machine.
#   make demo   create .venv, install, run the main job on the embedded mock survey
#   make test   create .venv, install, run the tests
# torch is installed first with an overridable pin so you can choose your CUDA build, e.g.
#   make demo TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.spectool-installed
MODE       ?= quick

.PHONY: venv demo test lab figures notebooks clean bench

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m spectool.demo --mode $(MODE) --out demo_output

test: $(STAMP)
	$(PY) -m pytest -q

lab: $(STAMP)
	$(PY) -m pip install -q -e ".[lab]"
	$(VENV)/bin/jupyter lab notebooks/

figures: $(STAMP)
	$(VENV)/bin/spectool figures --mode $(MODE) --out figures

notebooks: $(STAMP)
	$(PY) scripts/make_notebooks.py

bench: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) demo_output figures .pytest_cache
