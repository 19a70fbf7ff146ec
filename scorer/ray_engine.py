"""The ray engine (`--engine ray [--ray-address ADDR]`): the scorer's planned batches scored by Ray
Data on a Ray cluster, written by the driver exactly as the local engine writes them.

Each run of planned batches of one kind becomes a Ray dataset with one block per planned batch:
image files as their paths (`from_pandas`; the actors read and decode them with the scorer's own
reader, so a file that cannot be read or decoded is an error row, as locally), decoded arrays (IDX,
.npy, CSV, read by the scorer's readers with their labels and per-line errors) as tensors
(`from_numpy`). `map_batches` hands each block to a fixed pool of actors (`ActorPoolStrategy`); an
actor loads the model once and predicts a block as the local engine predicts that batch
(`LocalModel.infer`: `decode_image`, `Predictor.predict`), on a CPU, or on a GPU with
`--device cuda` (`num_gpus=1` per actor). The probabilities come back in input order
(`preserve_order`), and the driver turns them into rows with the same `finish` and writer as the
local engine (`Predictor.to_predictions`), so both engines write the same bytes.

Paths are read by the actors wherever Ray places them: on a cluster of several machines, the images
and the model folder must be at the same path on every node (shared storage), and the project
installed there (`pip install '.[ray]'`). Ray is an optional extra, never in the serving image.
"""
from __future__ import annotations

import logging
import os
from itertools import groupby
from typing import Iterator

import numpy as np

from inference.predictor import Predictor
from scorer.pool import WorkerFailed, decode
from scorer.run import LocalModel, Scored, finish
from scorer.sources import Batch
from scorer.row_writer import RowWriter

INSTALL = "pip install 'fashion-mnist-serving[ray]'"


class RayMissing(Exception):
    """--engine ray without Ray installed: one line saying how to get it."""


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401 - the `data` extra: pandas and pyarrow
    except ImportError as exc:
        raise RayMissing(f"--engine ray needs Ray Data ({exc.name} is not installed): {INSTALL}") from None
    return ray


class BatchScorer:
    """A Ray actor of the pool: loads the model once, then predicts whole blocks (planned batches)."""

    def __init__(self, model_dir: str, backend: str, device: str, invert: str) -> None:
        self.model = LocalModel(Predictor.load(model_dir, backend=backend, device=device, threads=1))
        self.invert = invert

    def __call__(self, block: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Probabilities per image (zeros where it has none) and an error message ("" for none)."""
        if "path" in block:
            paths = [str(path) for path in block["path"]]
            batch = decode(Batch(paths, [None] * len(paths), [None] * len(paths), paths=paths,
                                 errors=[None] * len(paths)), self.invert)
        else:
            count = len(block["data"])
            batch = Batch([""] * count, [None] * count, [None] * count, pixels=block["data"],
                          errors=[None] * count)
        ok, probabilities, scores = self.model.infer(batch)
        out = np.zeros((len(batch), len(self.model.classes)), dtype=np.float32)
        ood = np.full(len(batch), np.nan, dtype=np.float32)  # NaN: no score (no detector, or no image)
        if ok:
            out[ok] = probabilities
            if scores is not None:
                ood[ok] = scores
        return {"probabilities": out, "ood_score": ood,
                "error": np.array([error or "" for error in batch.errors], dtype=object)}


def _kind(batch: Batch) -> str | None:
    """`files`, `pixels`, or None for a batch with nothing to predict (a path that failed)."""
    if batch.paths is not None:
        return "files"
    return "pixels" if batch.ok() else None


class RayPool:
    """The ray engine behind the local pool's interface: `scored(batches)` yields each batch as
    `Scored` rows, in input order. Connects to the cluster at `address` (None: $RAY_ADDRESS, else
    a Ray started for this run with `actors` CPUs) and disconnects on exit."""

    def __init__(self, model: LocalModel, model_dir: str, device: str, invert: str,
                 writer: type[RowWriter], actors: int | None, address: str | None) -> None:
        self.ray = import_ray()
        self.model, self.format = model, writer(model.classes).format
        # Absolute paths: Ray's workers do not run in this process's working folder.
        self.actor_args = {"model_dir": os.path.abspath(model_dir), "backend": model.backend, "device": device,
                           "invert": invert}
        self.gpus = 1 if device.startswith("cuda") else 0
        address = address or os.environ.get("RAY_ADDRESS")  # Ray's own variable, as ray.init reads it
        try:
            self.ray.init(address=address, num_cpus=None if address else actors, include_dashboard=False,
                          logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise WorkerFailed(f"cannot start or reach Ray at {address or 'a new local instance'}: {exc}") from None
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-run INFO lines on stderr
        context = self.ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # rows in input order
        context.enable_progress_bars = False  # the scorer has its own
        resources = self.ray.cluster_resources()
        self.actors = actors or max(1, int(resources.get("GPU" if self.gpus else "CPU", 1)))

    def __enter__(self) -> "RayPool":
        return self

    def __exit__(self, *exc) -> None:
        self.ray.shutdown()  # disconnects this driver; a cluster given by address keeps running

    def scored(self, batches: Iterator[Batch]) -> Iterator[Scored]:
        """Consecutive batches of one kind go to Ray as one dataset, one run after the other (two
        datasets at once would compete for the same actors' CPUs)."""
        for kind, run in groupby(batches, key=_kind):
            if kind is None:
                yield from (finish(batch, self.model, ([], None, None), self.format) for batch in run)
                continue
            run = list(run)
            try:
                yield from self._score(run, kind)
            except self.ray.exceptions.RayError as exc:  # an actor failed (model missing on a node...)
                message = str(exc).strip().splitlines()
                raise WorkerFailed(f"the Ray job failed: {message[-1] if message else type(exc).__name__}") from None

    def _score(self, run: list[Batch], kind: str) -> Iterator[Scored]:
        import pandas as pd  # Ray Data's own dependency

        data = self.ray.data
        if kind == "files":
            dataset = data.from_pandas([pd.DataFrame({"path": [os.path.abspath(path) for path in batch.paths]})
                                        for batch in run])
        else:  # only the images that have pixels, as the local model predicts them
            dataset = data.from_numpy([batch.pixels[batch.ok()] for batch in run])
        scored = dataset.map_batches(
            BatchScorer, fn_constructor_kwargs=self.actor_args,
            compute=data.ActorPoolStrategy(size=min(self.actors, len(run))),  # no idle actors to start
            # One block is one planned batch: predicted whole, as the local engine predicts it (Ray
            # asks for a batch size with GPUs; the planned one keeps the blocks whole there too).
            batch_size=max(map(len, run)) if self.gpus else None,
            batch_format="numpy", num_cpus=1, num_gpus=self.gpus)
        rows = _Rows(scored.iter_batches(batch_size=None, batch_format="numpy"))
        for batch in run:
            if kind == "files":
                probabilities, scores, errors = rows.take(len(batch))
                batch.errors = [old or new or None for old, new in zip(batch.errors, errors)]
                ok = batch.ok()
                probabilities, scores = probabilities[ok], scores[ok]
            else:
                ok = batch.ok()
                probabilities, scores, _ = rows.take(len(ok))
            if not ok:
                probabilities = scores = None
            elif self.model.predictor.ood_threshold is None:
                scores = None
            yield finish(batch, self.model, (ok, probabilities, scores), self.format)


class _Rows:
    """The results of a dataset as a stream of rows, taken a planned batch at a time (Ray's output
    blocks need not match the planned batches)."""

    def __init__(self, batches: Iterator[dict[str, np.ndarray]]) -> None:
        self.batches = iter(batches)
        self.probabilities: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []
        self.errors: list[str] = []
        self.count = 0

    def take(self, count: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        while self.count < count:
            block = next(self.batches)
            self.probabilities.append(block["probabilities"])
            self.scores.append(block["ood_score"])
            self.errors += [str(error) for error in block["error"]]
            self.count += len(block["error"])
        probabilities, scores = np.concatenate(self.probabilities), np.concatenate(self.scores)
        self.probabilities, self.scores = [probabilities[count:]], [scores[count:]]
        errors, self.errors = self.errors[:count], self.errors[count:]
        self.count -= count
        return probabilities[:count], scores[:count], errors
