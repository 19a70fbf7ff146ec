# `make test` on a fresh clone: virtualenv, CPU torch, the project with all extras, then the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# pip picks torch 2.13.0 from whatever index it reads: on the dev machines that is a local CPU
# wheel; on PyPI for Linux it is the CUDA build. For the CPU build elsewhere:
#   make install TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0

.PHONY: install test test-fast train serve clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(TORCH_SPEC)
	$(PY) -m pip install -e ".[train,serve,dev,ray]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest

# Everything but the tests marked slow (real gunicorn boots, training subprocesses, containers).
test-fast: install
	$(PY) -m pytest -m "not slow"

train: install
	$(PY) -m training

serve: install
	$(VENV)/bin/gunicorn -c gunicorn.conf.py

clean:
	rm -rf $(VENV) .pytest_cache
