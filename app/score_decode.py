"""Decode the image files of each batch, in worker processes so decoding uses every CPU.

PIL releases the GIL only for part of a decode, so threads would not scale; processes do. Batches
come back in input order, with a few decoded ahead while the model works on the current one.
With one worker everything runs in this process (no pool to start).
"""
from __future__ import annotations

import signal
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Iterator

import numpy as np

from app.errors import InputError
from app.preprocess import preprocess_image
from app.score_inputs import Batch


def decode_files(paths: list[str], invert: str) -> tuple[np.ndarray, list[str | None]]:
    """float32 [n, 28, 28] for the files (zeros where one failed) and one error message per file."""
    pixels = np.zeros((len(paths), 28, 28), dtype=np.float32)
    errors: list[str | None] = [None] * len(paths)
    for i, path in enumerate(paths):
        try:
            with open(path, "rb") as handle:
                pixels[i] = preprocess_image(handle.read(), invert=invert)
        except InputError as exc:
            errors[i] = exc.message
        except OSError as exc:
            errors[i] = f"cannot read the file: {exc.strerror or exc}"
        except Exception as exc:  # a decoder bug on one odd file must not end a long run
            errors[i] = f"cannot decode the file: {type(exc).__name__}: {exc}"
    return pixels, errors


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the main process, which stops cleanly after the current batch."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Decoder:
    """Fills `pixels` of file batches; `workers` > 1 decodes in that many processes."""

    def __init__(self, workers: int, invert: str = "auto") -> None:
        self.invert, self.workers = invert, workers
        self.ahead = 2  # batches decoding while one is predicted: enough to keep workers busy
        self.pool = ProcessPoolExecutor(workers, initializer=_ignore_sigint) if workers > 1 else None

    def __enter__(self) -> "Decoder":
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def decoded(self, batches: Iterator[Batch]) -> Iterator[Batch]:
        """The batches in order, each with pixels (file batches decoded, others as they are)."""
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
        return [self.pool.submit(decode_files, batch.paths[start:start + step], self.invert)
                for start in range(0, len(batch.paths), step)]

    def _finish(self, batch: Batch, futures: list[Future]) -> Batch:
        if batch.paths is None:
            return batch
        parts = [future.result() for future in futures] or [decode_files(batch.paths, self.invert)]
        batch.pixels = np.concatenate([pixels for pixels, _ in parts])
        errors = [error for _, part_errors in parts for error in part_errors]
        batch.errors = [old or new for old, new in zip(batch.errors, errors)]
        return batch
