"""The model repository on disk: one folder per version, `1/`, `2/`, ... (the TF Serving and Triton
layout), each holding the training artifacts; or one plain model folder, served as version 1.

Only reading and naming happen here (no runtime, no Flask): the gunicorn master, the workers and
the metadata route all ask the same questions of the same folder.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

# "1", "2", ... but not "0", "01" or ".staging-...": a publisher's half-written folder never matches.
_VERSION_NAME = re.compile(r"[1-9][0-9]{0,17}")
# The files whose change makes a version worth another look (a copy finished, a file replaced).
_WATCHED = ("model.json", "model.onnx", "model.pt", "explain.onnx")


@dataclass(frozen=True)
class Version:
    """One version folder: its number (the folder's name) and where it is."""

    number: int
    path: Path

    def fingerprint(self) -> tuple:
        """Size and modification time of the watched files: equal fingerprints, same contents, as
        far as a poll needs to know (a failed version is retried only once it changed)."""
        stamp = []
        for name in _WATCHED:
            try:
                st = os.stat(self.path / name)
                stamp.append((name, st.st_size, st.st_mtime_ns))
            except OSError:
                stamp.append((name, None, None))
        return tuple(stamp)


def list_versions(root: str | Path) -> list[Version]:
    """The versions under `root`, newest first. A folder with model.json at its top and no version
    folders is a plain model folder (MODEL_DIR, or a repository from before versions): version 1."""
    root = Path(root)
    try:
        entries = list(os.scandir(root))
    except OSError:  # missing or unreadable: no versions; the caller says what it expected
        return []
    versions = [Version(int(entry.name), Path(entry.path)) for entry in entries
                if _VERSION_NAME.fullmatch(entry.name) and entry.is_dir()]
    if not versions and (root / "model.json").is_file():
        return [Version(1, root)]
    return sorted(versions, key=lambda v: v.number, reverse=True)


def next_version_number(root: str | Path) -> int:
    """The number a new version gets: one above the highest folder name, whatever its state."""
    numbers = [int(name) for name in _names(root) if _VERSION_NAME.fullmatch(name)]
    return max(numbers, default=0) + 1


def _names(root: str | Path) -> list[str]:
    try:
        return os.listdir(root)
    except FileNotFoundError:
        return []


def newest_valid(root: str | Path, backend: str, pin: int | None = None) -> Version:
    """The newest version (or the pinned one) whose files pass `Predictor.check_files`, without
    starting a runtime: gunicorn's master asks this before forking. ModelLoadError when none does,
    with the reason of the newest candidate."""
    from inference.errors import ModelLoadError
    from inference.predictor import Predictor

    root = Path(root)
    versions = list_versions(root)
    if pin:
        versions = [v for v in versions if v.number == pin]
        if not versions:
            raise ModelLoadError(f"MODEL_VERSION={pin}: no version folder {root / str(pin)}")
    if not versions:
        raise ModelLoadError(f"model file not found: {root / 'model.json'} "
                             f"(nor version folders {root}/1/, {root}/2/, ...)")
    reasons = []
    for version in versions:
        try:
            Predictor.check_files(version.path, backend)
            return version
        except ModelLoadError as exc:
            reasons.append(f"version {version.number}: {exc}")
    raise ModelLoadError("no valid model version: " + "; ".join(reasons))
