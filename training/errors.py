"""Errors the CLI turns into one `error: ...` line and a non-zero exit (no traceback)."""


class TrainingError(Exception):
    """A problem the user can fix: the message says what and where."""


class DataError(TrainingError):
    """A data file is missing, truncated or not what was expected; the message names it."""


class ExportError(TrainingError):
    """The exported ONNX model is invalid or disagrees with the torch model."""


class DeviceError(TrainingError):
    """The requested device is not available."""
