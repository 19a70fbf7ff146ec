# The API on an NVIDIA GPU: the runtime image of ../Dockerfile with onnxruntime-gpu in place of
# onnxruntime, on a CUDA + cuDNN runtime base. Built by the compose `api-gpu` service (profile gpu).
# The CUDA major version of the base must be the one onnxruntime-gpu was built for: PyPI's
# onnxruntime-gpu 1.31 is built for CUDA 13 and cuDNN 9. Change both together.
ARG CUDA_IMAGE=nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04

FROM ${CUDA_IMAGE} AS build
ARG ONNXRUNTIME_GPU_VERSION=1.31.1
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml docker/requirements.py ./
RUN python3 requirements.py pyproject.toml serve --replace onnxruntime=onnxruntime-gpu > serve.txt \
 && echo "onnxruntime-gpu==${ONNXRUNTIME_GPU_VERSION}" > constraints.txt \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install -r serve.txt -c constraints.txt \
 && /opt/venv/bin/pip uninstall --yes pip setuptools
# onnxruntime and onnxruntime-gpu install the same `onnxruntime` package: should anything pull the
# CPU one in too, the image would quietly serve on the CPU. The provider list needs no GPU to read.
RUN /opt/venv/bin/python -c "import onnxruntime as o; p = o.get_available_providers(); \
assert 'CUDAExecutionProvider' in p, p; import flask, gunicorn, PIL.Image, numpy"

FROM ${CUDA_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    MODEL_REPOSITORY=/models PORT=8000 DEVICE=cuda
# python3 only (no venv module needed here): the venv built above points at this interpreter.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --create-home --shell /usr/sbin/nologin app \
 && mkdir -p /models && chown app:app /models
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY gunicorn.conf.py ./
COPY inference/ inference/
COPY app/ app/
COPY scorer/ scorer/
USER app
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
