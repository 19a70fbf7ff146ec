#!/usr/bin/env bash
# Run ON a GPU machine of the `device` tool (no network; its python3, /opt/torch/.venv, holds CUDA
# torch, onnxruntime for the CPU, pytest, requests, pillow; see docs/gpu.md), after
# tests/gpu/carry.sh here, with carry [".gpu-carry"]:
#   bash tests/gpu/device_run.sh [--tests | --bench | --stash DIR]
# Makes .venv the image's interpreter plus the carried wheels, installs onnxruntime-gpu when its
# pieces were stashed by earlier calls, runs `make test-gpu` (REQUIRE_GPU=1) and then
# benchmarks/gpu.py (--tests: only the former, --bench: only the latter; each fits one call's 600 s,
# both together may not); logs and figures land in $OUT. --stash DIR only keeps one piece of
# onnxruntime-gpu on this (warm) machine for a later call.
set -uo pipefail
cd "$(dirname "$0")/../.."
base=${GPU_BASE_VENV:-/opt/torch/.venv}
pieces=/root/gpu-ort-pieces
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out"

if [ "${1:-}" = "--stash" ]; then
    mkdir -p "$pieces" && cp "$2"/* "$pieces"/ && ls -la "$pieces"
    exit
fi

# .venv is the image's venv itself (a symlink), so `make test-gpu` and the tests' gunicorn
# (beside sys.executable) find everything there; the machine is thrown away after the session.
rm -rf .venv && ln -s "$base" .venv || exit 1
.venv/bin/python -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    .gpu-carry/wheels/*.whl || { echo "cannot install the carried wheels into $base"; exit 1; }
if ls "$pieces"/*.part* >/dev/null 2>&1; then
    (cd "$pieces" && wheel=$(basename *.sha256 .sha256) && cat "$wheel".part* > "$wheel" \
        && sha256sum -c "$wheel.sha256" \
        && "$OLDPWD/.venv/bin/python" -m pip uninstall -q -y onnxruntime \
        && "$OLDPWD/.venv/bin/python" -m pip install -q --no-index --no-deps "$wheel") \
        && export REQUIRE_ONNX_CUDA=1 || echo "onnxruntime-gpu: reassembly or install failed"
fi
touch .venv/.installed  # make's `install` target: nothing to do

# onnxruntime-gpu looks for the CUDA and cuDNN libraries on the library path; torch's come as
# nvidia-* wheels inside the venv, which only torch knows how to find by itself.
nvidia_libs=$(find "$base"/lib/python3*/site-packages/nvidia -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)
export LD_LIBRARY_PATH=$nvidia_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export FASHION_MNIST_DIR=$PWD/.gpu-carry/data PYTHONPATH=$PWD PYTHONUNBUFFERED=1 REQUIRE_GPU=1
export GPU_FIGURES=$out/agreement.json

{ nvidia-smi; .venv/bin/python -c 'import torch, onnxruntime as o
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
print("onnxruntime", o.__version__, o.get_available_providers())'; } 2>&1 | tee "$out/env.txt"
status=0
if [ "${1:-}" != "--bench" ]; then
    if command -v make >/dev/null; then
        make test-gpu 2>&1 | tee "$out/test-gpu.log"
    else  # the same command as the Makefile's target
        .venv/bin/python -m pytest tests/gpu -v -rs 2>&1 | tee "$out/test-gpu.log"
    fi
    status=${PIPESTATUS[0]}
fi
if [ "${1:-}" != "--tests" ]; then
    .venv/bin/python benchmarks/gpu.py --device cuda --json "$out/bench.json" 2>&1 | tee "$out/bench.log"
    [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
exit "$status"
