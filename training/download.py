"""Fetch Fashion-MNIST through torchvision: the only place torchvision is imported."""
from __future__ import annotations

from pathlib import Path

from training.errors import DataError


def download(data_dir: Path) -> None:
    """Download the four files into `data_dir/FashionMNIST/raw/`, or raise a DataError saying
    where to put them by hand."""
    hint = (f"put the four Fashion-MNIST files (train-images-idx3-ubyte.gz, "
            f"train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) "
            f"in {data_dir} (or {data_dir / 'FashionMNIST' / 'raw'}) and pass --data-dir "
            f"or set FASHION_MNIST_DIR")
    try:
        # torchvision is imported here only: it is not needed anywhere else, and a torchvision
        # build that does not match torch fails at import time.
        from torchvision.datasets import FashionMNIST

        for train in (True, False):
            FashionMNIST(root=str(data_dir), train=train, download=True)
    except Exception as e:  # noqa: BLE001 - any failure (no network, bad install) gets the hint
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{data_dir}: Fashion-MNIST files not found and download failed "
                        f"({reason}); {hint}") from None
