"""The rows' writer that every output format shares: whole batches of lines written straight to
the file descriptor, cut back to the last whole batch when a write fails.

Plain files other tools read with no option: one row per image in input order, the model version
in each row (`model_version`). Each batch goes out as whole lines in one write, so a run stopped
with Ctrl-C leaves only complete lines; a write that fails (a full disk) is cut back to the last
whole batch in a file and raised as `WriteError`, one line for the user. Formatting (`format`, rows
to text) is apart from writing (`emit`): the scorer's worker processes format their rows with a
writer that has no stream, and the main process emits the text.
"""
from __future__ import annotations

import fcntl
import os
import stat
import sys
from pathlib import Path
from typing import TextIO

FIELDS = ("source", "index", "true_label", "label", "class_index", "confidence", "ood_score",
          "out_of_distribution")


class WriteError(Exception):
    """An output could not be written (full disk, I/O error, no permission): the run stops with
    this one line and exit status 2; what was written before holds whole lines only."""


def write_error(target: str, exc: OSError) -> WriteError:
    where = "stdout" if target == "-" else target
    return WriteError(f"cannot write {where}: {exc.strerror or exc}")


def open_stream(target: str) -> TextIO:
    """The stream rows go to: stdout for `-`, else the file (its folder made if need be)."""
    if target == "-":
        return sys.stdout
    path = Path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise write_error(target, exc) from None


class RowWriter:
    """Base: holds the class names and the stream (None: a formatter only, for worker processes);
    `format` turns a batch of row dicts into text, `emit` writes text, `write` does both."""

    def __init__(self, classes: list[str], stream: TextIO | None = None, target: str = "-") -> None:
        self.stream, self.classes, self.target = stream, classes, target
        # Rows bypass the stream's buffers: a write that failed must not leave text behind that a
        # later flush or close would add after the cut (streams without a descriptor, such as a
        # StringIO, are written as they are).
        self.fd = _descriptor(stream)
        if stream is not None:
            self.emit(self.header())

    @classmethod
    def open(cls, classes: list[str], target: str) -> "RowWriter":
        """The writer on its output stream (`-`: stdout)."""
        return cls(classes, open_stream(target), target)

    def header(self) -> str:
        """What the file starts with, before any row."""
        return ""

    def columns(self) -> list[str]:
        """The table's columns: the row's fields, one probability column per class, error, version."""
        return [*FIELDS, *(f"p_{name}" for name in self.classes), "error", "model_version"]

    def cells(self, row: dict) -> list:
        """The row's cells in `columns` order (None: the row has no such value)."""
        probabilities = row.get("probabilities") or {}
        return [*(row.get(key) for key in FIELDS), *(probabilities.get(name) for name in self.classes),
                row.get("error"), row.get("model_version")]

    def format(self, rows: list[dict]) -> str:
        """The rows' text: whole lines."""
        raise NotImplementedError

    def emit(self, text: str) -> None:
        """Write whole lines, all of them or none: a failed write (ENOSPC, EIO...) is cut back to
        where this batch began when the output is a regular file, and raised as WriteError. A
        broken pipe stays BrokenPipeError (the reader stopped: not an error of ours)."""
        if self.fd is None:
            self.stream.write(text)
            self.stream.flush()
            return
        data = memoryview(text.encode("utf-8"))
        start = _end_of(self.fd)
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except BrokenPipeError:
            raise
        except OSError as exc:
            if start is not None:
                os.ftruncate(self.fd, start)
                os.lseek(self.fd, start, os.SEEK_SET)
            raise write_error(self.target, exc) from None

    def close(self) -> None:
        if self.stream is not None and self.stream is not sys.stdout:
            try:
                self.stream.close()
            except OSError as exc:
                raise write_error(self.target, exc) from None


def _descriptor(stream: TextIO | None) -> int | None:
    """The OS file under `stream`, its buffer flushed first; None for an in-memory stream."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both of the last two
        return None
    stream.flush()
    return fd


def _end_of(fd: int) -> int | None:
    """Where the next write lands in a regular file (None for a pipe, a terminal, /dev/full)."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        return None
    return info.st_size if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND else os.lseek(fd, 0, os.SEEK_CUR)


