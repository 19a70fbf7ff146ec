"""A training run's settings: one typed record that the CLI fills and the checkpoint stores."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class TrainConfig:
    """The training run's settings, one typed record: the CLI fills it, the checkpoint stores it."""

    data_dir: Path
    out: Path = Path("artifacts")
    # A model repository (MODEL_REPOSITORY): the run is written as its next version folder instead.
    publish: Path | None = None
    model: str = "linear"  # linear | mlp | cnn
    impl: str = "module"  # module (nn + autograd) | scratch (explicit W, b and gradient)
    # d2l.ai's defaults: 10 epochs of SGD, lr 0.1, minibatches of 256.
    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.1
    optimizer: str = "sgd"  # sgd | adam
    seed: int = 0
    # Share of the training files held out (stratified) to fit the temperature and the
    # out-of-distribution detector on; the model trains on the rest. 0: neither is fitted.
    val_fraction: float = 0.1
    device: str = "auto"  # auto picks CUDA when torch sees one
    # One batch per epoch: exercises every stage (training, export, self-check, plots) in seconds.
    dry_run: bool = False
    force: bool = False  # retrain even when --out already holds a model
    # torch intra-op threads on CPU; 0 keeps torch's default (one per core). On a shared CPU the
    # extra threads spin-wait for each other and a small model trains fastest with 1.
    threads: int = 0
    progress: bool = True  # tqdm bar per epoch; the benchmark turns it off
    # Live monitoring (training/monitor.py): a Visdom server's URL, a TensorBoard log folder (one
    # subfolder per run, so runs in one folder compare side by side), and how often the batch loss
    # is sent. Monitoring never stops a run.
    visdom: str | None = None
    tensorboard: Path | None = None
    log_every: int = 10
    # Evaluation batches are large: no gradients are kept, so memory is not the limit.
    eval_batch_size: int = 4096

    def hyperparameters(self) -> dict:
        """What shaped the weights (written into model.pt and model.json)."""
        keep = ("model", "impl", "epochs", "batch_size", "lr", "optimizer", "seed", "val_fraction", "dry_run")
        return {key: value for key, value in asdict(self).items() if key in keep}


def default_data_dir() -> Path:
    """`$FASHION_MNIST_DIR`, else `./data`."""
    return Path(os.environ.get("FASHION_MNIST_DIR") or "data")
