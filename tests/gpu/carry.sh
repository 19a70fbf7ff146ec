#!/usr/bin/env bash
# Run HERE (a machine with pip and the network) before a GPU session of the `device` tool: fills
# .gpu-carry/ (git-ignored) with what the GPU machine lacks, for `carry: [".gpu-carry"]`:
#   .gpu-carry/wheels  flask, gunicorn and the other serving packages its image does not have
#                      (the versions installed in .venv here), for Python 3.12 on x86-64
#   .gpu-carry/data    the real sample's four IDX files (FASHION_MNIST_DIR)
# With --onnxruntime-gpu also .gpu-ort/1 .. .gpu-ort/N: onnxruntime-gpu's wheel (~250 MB, over the
# 64 MiB a call may carry) in pieces, one per call (docs/gpu.md, "onnxruntime-gpu in pieces").
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
ORT_GPU_VERSION=${ORT_GPU_VERSION:-1.30.0}  # the version of the image's CPU onnxruntime
sample=${FASHION_MNIST_DIR:-../shared/data/fashion-mnist-mini}
download=("$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12
          --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
          --platform manylinux2014_x86_64 --platform manylinux1_x86_64)

rm -rf .gpu-carry && mkdir -p .gpu-carry/wheels .gpu-carry/data
cp "$sample"/*-ubyte.gz .gpu-carry/data/
pins=$("$PY" -c 'from importlib.metadata import version as v
names = "flask werkzeug itsdangerous blinker click gunicorn pyspng simplejpeg prometheus_client"
print(" ".join(f"{n}=={v(n)}" for n in names.split()))')
"${download[@]}" -q -d .gpu-carry/wheels $pins
du -sh .gpu-carry

if [ "${1:-}" = "--onnxruntime-gpu" ]; then
    rm -rf .gpu-ort && mkdir -p .gpu-ort/whole
    "${download[@]}" -q -d .gpu-ort/whole "onnxruntime-gpu==$ORT_GPU_VERSION"
    wheel=$(cd .gpu-ort/whole && ls onnxruntime_gpu-*.whl)
    (cd .gpu-ort/whole && sha256sum "$wheel" > "$wheel.sha256" && split -b 60M -d -a 1 "$wheel" "$wheel.part")
    for part in .gpu-ort/whole/*.part*; do
        n=$(( ${part##*.part} + 1 )); mkdir -p ".gpu-ort/$n"; mv "$part" ".gpu-ort/$n/"
    done
    cp .gpu-ort/whole/*.sha256 .gpu-ort/1/ && rm -rf .gpu-ort/whole
    ls .gpu-ort
fi
