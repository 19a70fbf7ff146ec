# Three images from one file (docker-compose.yml builds them):
#   trainer  torch (CPU build) + the training package: writes the artifacts to /models, then exits
#   monitor  the compose `monitor` profile's dashboards: a Visdom server and TensorBoard, no torch
#   runtime  the HTTP API: onnxruntime + flask + gunicorn + image decoders + numpy and the app, no
#            torch; its libraries come from requirements/serve.lock (pinned, hashed)
# `docker build .` gives the runtime (the last stage). The GPU variant is docker/gpu.Dockerfile.
ARG BASE_IMAGE=python:3.12-slim

# --- the train extra of pyproject.toml as a requirements file (pyproject.toml stays the source).
# The runtime installs from requirements/serve.lock instead: exact pins with PyPI's hashes.
FROM ${BASE_IMAGE} AS requirements
WORKDIR /src
COPY pyproject.toml docker/requirements.py ./
RUN python3 requirements.py pyproject.toml train > train.txt \
 && grep -E '^(visdom|tornado|tensorboard)\b' train.txt > monitor.txt

# --- trainer: the one-shot `train` service
FROM ${BASE_IMAGE} AS trainer
# pip's default index ships torch built for CUDA (GBs); this index has the CPU build, whose
# "+cpu" versions pip prefers over PyPI's when both satisfy the range.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    MODEL_REPOSITORY=/models
COPY --from=requirements /src/train.txt /tmp/train.txt
COPY docker/visdom_py311.sh /tmp/
# pip is not upgraded on purpose: the venv's own pip is enough, and a newer one would not trust
# the CA bundle of some build sandboxes. visdom_py311.sh: visdom on a 3.11 base image (it says why).
RUN python3 -m venv /opt/venv \
 && sh /tmp/visdom_py311.sh python \
 && pip install --extra-index-url "$TORCH_INDEX_URL" -r /tmp/train.txt
# Created here so that a fresh named volume mounted on them is owned by the unprivileged user.
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin app \
 && mkdir -p /data /models /runs && chown app:app /data /models /runs
WORKDIR /app
COPY inference/ inference/
COPY training/ training/
COPY docker/train_entrypoint.py ./
USER app
ENTRYPOINT ["python", "train_entrypoint.py"]

# --- monitor: the `visdom` and `tensorboard` services of the compose `monitor` profile
FROM ${BASE_IMAGE} AS monitor
ENV PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=requirements /src/monitor.txt /tmp/monitor.txt
COPY docker/visdom_py311.sh /tmp/
# `python -m visdom.server` downloads the page's scripts from CDNs at every start; here they are
# fetched once, at build time (a build without internet still succeeds: the API works, the page
# stays blank), and the server starts through run_server.main(), which downloads nothing.
RUN python3 -m venv /opt/venv \
 && sh /tmp/visdom_py311.sh python \
 && pip install -r /tmp/monitor.txt \
 && (python -c "from visdom.server.build import download_scripts; download_scripts()" \
     || echo "Visdom's page scripts not downloaded (no internet): the server and its API still work")
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin app \
 && mkdir -p /runs /visdom && chown app:app /runs /visdom
USER app
EXPOSE 8097 6006
# Visdom keeps each environment as a JSON file in -env_path (a volume in compose).
CMD ["python", "-c", "from visdom.server.run_server import main; main()", "-port", "8097", "-env_path", "/visdom"]

# --- serve-venv: build the runtime's virtualenv from the lock, then drop the installers from it
FROM ${BASE_IMAGE} AS serve-venv
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements/serve.lock /tmp/serve.lock
# Every file is checked against the lock's hashes and nothing outside the lock comes in (--no-deps;
# `pip check` proves the lock is complete); wheels only, so no compiler is ever needed.
# `make lock` regenerates the lock from pyproject.toml (docs/deployment.md).
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --no-deps --only-binary :all: -r /tmp/serve.lock \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/pip uninstall --yes pip setuptools
# Parts of the wheels a server never loads (58 MB): test suites, type stubs, onnxruntime's
# model-conversion tools and its C API library (libonnxruntime.so, 28 MB: for C/C++ programs; the
# Python bindings carry their own copy of the runtime, and the import below fails if that changes),
# numpy's Fortran wrapper generator and build helpers.
RUN cd /opt/venv/lib/python3*/site-packages \
 && find . -depth -type d -name tests -exec rm -rf {} + \
 && find . -name '*.pyi' -delete \
 && rm -rf numpy/f2py numpy/distutils \
           onnxruntime/transformers onnxruntime/quantization onnxruntime/tools \
           onnxruntime/capi/libonnxruntime.so* \
 && /opt/venv/bin/python -c "import numpy, onnxruntime, PIL.Image, flask, gunicorn, pyspng, simplejpeg, prometheus_client"

# --- runtime: the `api` service
FROM ${BASE_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    MODEL_REPOSITORY=/models PORT=8000
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin app \
 && mkdir -p /models && chown app:app /models
COPY --from=serve-venv /opt/venv /opt/venv
WORKDIR /app
COPY gunicorn.conf.py ./
COPY inference/ inference/
COPY app/ app/
COPY scorer/ scorer/
USER app
EXPOSE 8000
# No curl in slim images: python asks /readyz (urlopen raises on a 503, so the check fails).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
