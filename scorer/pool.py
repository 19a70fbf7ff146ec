"""The batch scorer's parallelism: worker processes that score the image files of each batch, so
the work uses every CPU.

PIL releases the GIL only for part of a decode, so threads would not scale; processes do. Each
worker loads the model once (one thread) and takes a whole slice of a batch through the one code
path of a prediction: decode (`decode_image`), `Predictor.predict`, `Predictor.to_predictions`,
and the output writer's `format`; it sends back the rows' text and the counts, so the main process
only writes. Batches come back in input order, with a few scored ahead while one is written.
Without a model for the workers (a GPU model: CUDA does not survive a fork) they only decode.
With one worker everything runs in this process (no pool to start). The one other thread of a run,
which writes batch k while the model runs batch k+1, is the loop's own (scorer.run).
"""
from __future__ import annotations

import signal
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import reduce
from typing import Iterator

import numpy as np

from inference.predictor import Predictor
from scorer.readers import decode_files
from scorer.run import ExplainingModel, LocalModel, Scored, finish
from scorer.sources import Batch, Source
from scorer.row_writer import RowWriter


def decode(batch: Batch, invert: str) -> Batch:
    """The file batch with its pixels filled in, and an error for each file that failed."""
    batch.pixels, errors = decode_files(batch.paths, invert)
    batch.errors = [old or new for old, new in zip(batch.errors, errors)]
    return batch


@dataclass(frozen=True)
class WorkerModel:
    """What a worker needs to load the main process's model and format rows as its writer does."""

    model_dir: str
    backend: str
    device: str
    writer: type[RowWriter]
    explain: bool = False


_worker: dict = {}  # this worker process's model and row formatter, set once by _start_worker


class WorkerFailed(Exception):
    """A scoring worker could not start (its model did not load): the run stops with one line."""


def _start_worker(model: WorkerModel | None) -> None:
    """Workers leave Ctrl-C to the main process, which stops cleanly after the current batch."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if model is None:
        return
    try:
        predictor = Predictor.load(model.model_dir, backend=model.backend, device=model.device, threads=1)
    except Exception as exc:  # raised from the initializer it would print a traceback per worker
        _worker["failed"] = f"a scoring worker could not load the model: {exc}"
        return
    _worker["model"] = (ExplainingModel if model.explain else LocalModel)(predictor)
    _worker["format"] = model.writer(predictor.classes).format


def work(batch: Batch, invert: str) -> Batch | Scored:
    """In a worker: the batch decoded, then predicted and formatted when the worker has a model."""
    if "failed" in _worker:
        raise WorkerFailed(_worker["failed"])
    decode(batch, invert)
    model = _worker.get("model")
    return batch if model is None else finish(batch, model, model.infer(batch), _worker["format"])


def pool_for(model, sources: list[Source], batch_size: int, workers: int, invert: str,
             model_dir: str, writer: type[RowWriter]) -> "Pool":
    """The pool a run needs: none for the service (it decodes the files itself); else at most
    `workers` processes, no more than there are batches of files. The workers get the model on a
    CPU; for a GPU they only decode (a forked worker cannot use the parent's CUDA, and one GPU
    model per worker would not help)."""
    if not model.needs_pixels:
        return Pool(decodes=False)
    file_batches = sum(-(-len(source.files) // batch_size) for source in sources if source.files)
    worker_model = WorkerModel(model_dir, model.backend, model.device, writer,
                               isinstance(model, ExplainingModel)) \
        if isinstance(model, LocalModel) and model.device == "cpu" else None
    return Pool(max(1, min(workers, file_batches)), invert, worker_model)


class Pool:
    """Turns file batches into `Scored` ones (or decoded ones, see above) in `workers` processes;
    other batches, and every batch when `workers` is 1, pass through decoded here. With `decodes`
    false (the service decodes) every batch passes through as it is."""

    def __init__(self, workers: int = 1, invert: str = "auto", model: WorkerModel | None = None,
                 decodes: bool = True) -> None:
        self.invert, self.workers, self.decodes = invert, workers, decodes
        self.ahead = 2  # batches in the workers while one is written: enough to keep them busy
        self.pool = ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(model,)) \
            if workers > 1 else None

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def scored(self, batches: Iterator[Batch]) -> Iterator[Batch | Scored]:
        """The batches in order: file batches scored or decoded, others as they are."""
        if not self.decodes:
            yield from batches
            return
        queue: deque[tuple[Batch, list[Future]]] = deque()
        for batch in batches:
            queue.append((batch, self._submit(batch)))
            while len(queue) > self.ahead or (queue and not queue[0][1]):
                yield self._finish(*queue.popleft())
        while queue:
            yield self._finish(*queue.popleft())

    def _submit(self, batch: Batch) -> list[Future]:
        """One task per worker for the batch's files, so even a single batch uses every CPU."""
        if batch.paths is None or self.pool is None:
            return []
        step = max(16, -(-len(batch.paths) // self.workers))
        return [self.pool.submit(work, batch.part(start, start + step), self.invert)
                for start in range(0, len(batch.paths), step)]

    def _finish(self, batch: Batch, futures: list[Future]) -> Batch | Scored:
        if not futures:
            return batch if batch.paths is None else decode(batch, self.invert)
        parts = [future.result() for future in futures]
        if isinstance(parts[0], Scored):
            return reduce(Scored.extend, parts)
        batch.pixels = np.concatenate([part.pixels for part in parts])
        batch.errors = [error for part in parts for error in part.errors]
        return batch
