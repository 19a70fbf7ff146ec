"""Entry point of the compose `train` service: `python -m training` with flags from TRAIN_* variables.

Flags given after the service name (`docker compose run --rm train --epochs 20 --force`) come
last, so they win (argparse keeps the last value). Unset or empty variables are left out, so the
training CLI's own defaults apply.
"""
from __future__ import annotations

import os
import sys

# environment variable -> training flag (each takes a value)
VALUE_FLAGS = {
    "TRAIN_MODEL": "--model",
    "TRAIN_IMPL": "--impl",
    "TRAIN_EPOCHS": "--epochs",
    "TRAIN_BATCH_SIZE": "--batch-size",
    "TRAIN_LR": "--lr",
    "TRAIN_OPTIMIZER": "--optimizer",
    "TRAIN_SEED": "--seed",
    "TRAIN_VAL_FRACTION": "--val-fraction",
    "TRAIN_DEVICE": "--device",
    "TRAIN_VISDOM": "--visdom",  # e.g. http://visdom:8097 (the compose `monitor` profile)
    "TRAIN_TENSORBOARD": "--tensorboard",  # e.g. /runs, the volume the `tensorboard` service reads
}
# environment variable -> switch, given when the variable is 1/true/yes
SWITCHES = {"TRAIN_FORCE": "--force", "TRAIN_DRY_RUN": "--dry-run"}


def training_argv(env: dict[str, str], extra: list[str]) -> list[str]:
    """The argument list for `python -m training`."""
    # The per-batch progress bar is for terminals; container logs keep the per-epoch lines.
    # A model repository (the images set MODEL_REPOSITORY=/models) gets the next version folder,
    # which a running api picks up; a plain MODEL_DIR gets the artifacts themselves.
    target = (["--publish", env["MODEL_REPOSITORY"]] if env.get("MODEL_REPOSITORY")
              else ["--out", env.get("MODEL_DIR", "/models")])
    argv = ["--data-dir", env.get("DATA_DIR", "/data"), *target, "--no-progress"]
    for name, flag in VALUE_FLAGS.items():
        if env.get(name):
            argv += [flag, env[name]]
    for name, flag in SWITCHES.items():
        if env.get(name, "").lower() in ("1", "true", "yes"):
            argv.append(flag)
    return argv + extra


if __name__ == "__main__":
    argv = [sys.executable, "-m", "training", *training_argv(dict(os.environ), sys.argv[1:])]
    print("train:", " ".join(argv[1:]), flush=True)
    os.execv(sys.executable, argv)
