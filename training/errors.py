"""The errors a training run reports: the CLI prints the message as one `error: ...` line."""
from __future__ import annotations


class TrainingError(Exception):
    """A problem the user can fix: the CLI prints the message as one `error: ...` line and exits
    non-zero, no traceback."""


class DataError(TrainingError):
    """A data file is missing, truncated or not what was expected; the message names it."""


class ExportError(TrainingError):
    """The exported ONNX model is invalid or disagrees with the torch model."""


class DeviceError(TrainingError):
    """The requested device is not available."""
