# `make test` on a fresh clone: virtualenv, CPU torch, the project with all extras, then the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# pip picks torch 2.13.0 from whatever index it reads: on the dev machines that is a local CPU
# wheel; on PyPI for Linux it is the CUDA build. For the CPU build elsewhere:
#   make install TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0

.PHONY: install test test-fast test-gpu train serve lock clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(TORCH_SPEC)
	sh docker/visdom_py311.sh $(PY)  # visdom on Python 3.11: a build pip's isolation cannot do
	$(PY) -m pip install -e ".[train,serve,dev,ray]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest

# Everything but the tests marked slow (real gunicorn boots, training subprocesses, containers).
test-fast: install
	$(PY) -m pytest -m "not slow"

# The GPU suite (tests/gpu, docs/gpu.md): trains, serves and scores on CUDA and compares with the
# CPU. Without CUDA each test skips with what is missing (exit 0); REQUIRE_GPU=1 fails instead.
# On a GPU machine of the device tool: bash tests/gpu/device_run.sh (makes .venv, then this).
test-gpu: install
	$(PY) -m pytest tests/gpu -v -rs

train: install
	$(PY) -m training

serve: install
	$(VENV)/bin/gunicorn -c gunicorn.conf.py

# The runtime image's pinned, hashed requirements (docs/deployment.md): PyPI's hashes of every wheel
# of each pin, for every platform and Python >= 3.11, resolved from pyproject.toml's serve extra.
# No config files and PyPI as the only index, so a local mirror's files never end up in the lock.
lock: install
	$(VENV)/bin/uv pip compile pyproject.toml --extra serve --universal --python-version 3.11 \
	    --generate-hashes --no-config --default-index https://pypi.org/simple \
	    --custom-compile-command "make lock" -o requirements/serve.lock

clean:
	rm -rf $(VENV) .pytest_cache
