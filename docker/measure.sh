#!/usr/bin/env bash
# The containers' figures for the README: the runtime image's size above its base image, and the
# seconds from `compose up -d` to the first 200 on /readyz when the volume already holds a model.
#   docker/measure.sh          podman via ../shared/containers when it is there, else docker
# Uses a compose project of its own (removed at the end, volumes included) and the real sample
# in $FASHION_MNIST_DIR (default ../shared/data/fashion-mnist-mini) for the first training.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x ../shared/containers/compose ]; then
    compose=(../shared/containers/compose); engine=podman
    base=${BASE_IMAGE:-localhost/python-base:3.11}
else
    compose=(docker compose); engine=docker
    base=${BASE_IMAGE:-python:3.12-slim}
fi
project=fmnist-measure
runs=${RUNS:-5}
export API_PORT=${API_PORT:-18099} TRAIN_EPOCHS=${TRAIN_EPOCHS:-3}
export FASHION_MNIST_DIR=${FASHION_MNIST_DIR:-$(cd ../shared/data/fashion-mnist-mini && pwd)}
url=http://127.0.0.1:$API_PORT/readyz

c() { "${compose[@]}" -p "$project" "$@" >/dev/null 2>&1; }
trap 'c down -v' EXIT
wait_ready() {
    for _ in $(seq 1 1200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ] && return 0
        sleep 0.1
    done
    echo "no 200 from $url" >&2; return 1
}

c up -d --build  # builds, trains once on the sample, serves
wait_ready
size=$($engine image inspect -f '{{.Size}}' fashion-mnist-api:latest)
base_size=$($engine image inspect -f '{{.Size}}' "$base")
echo "runtime image: $((size / 1000000)) MB, base $base: $((base_size / 1000000)) MB," \
     "above the base: $(((size - base_size) / 1000000)) MB ($(((size - base_size) / 1048576)) MiB)"

for i in $(seq 1 "$runs"); do
    c down  # keeps the volumes: the model stays
    start=$(date +%s.%N)
    c up -d
    wait_ready
    echo "run $i: up -d -> /readyz 200 in $(echo "$(date +%s.%N) - $start" | bc) s (model in the volume)"
done
