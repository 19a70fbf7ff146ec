"""One epoch (train + test evaluation) of our loop vs a faithful copy of the seeds' loop.

    python benchmarks/train_speed.py            # 60,000 + 10,000 synthetic images, CPU

Both loops train the seeds' softmax regression (Flatten + Linear(784, 10), SGD lr 0.1, batch 256)
on the same synthetic images, written to and read back from IDX files, in this one process.

- ours: `training.loop` - the split sits in memory as one uint8 tensor; a batch is a slice of a
  shuffled index, converted to float in one vectorised op.
- seeds: torchvision's FashionMNIST + ToTensor + DataLoader(batch_size=256, shuffle=True,
  num_workers=4), as in the seeds' `load_data_fashion_mnist` / `train_ch3`. torchvision cannot be
  imported beside the CPU torch here, so its two per-sample steps are reproduced by hand with PIL
  and numpy, doing what torchvision 0.28 does: `Image.fromarray(img.numpy(), mode="L")` in
  `FashionMNIST.__getitem__`, then `ToTensor` (np.array copy -> view HxWx1 -> permute to 1xHxW ->
  float / 255).
- floor: a bare forward pass (no loss, no backward, no optimizer) over the same batches of
  in-memory images: no training epoch can be faster.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from training.config import TrainConfig
from training.data import Split, load_dataset, write_synthetic
from training.models import new_model
from training.loop import ModuleLearner, as_float, evaluate, make_optimizer, take, train_epoch


class SeedsFashionMNIST(TorchDataset):
    """torchvision.datasets.FashionMNIST(transform=ToTensor()) per-sample path, by hand."""

    def __init__(self, split: Split) -> None:
        self.images, self.labels = split.images, split.labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        img, target = self.images[index], int(self.labels[index])
        pic = Image.fromarray(img.numpy(), mode="L")  # FashionMNIST.__getitem__
        return to_tensor(pic), target


def to_tensor(pic: Image.Image) -> torch.Tensor:
    """torchvision.transforms.functional.to_tensor for a mode "L" PIL image."""
    img = torch.from_numpy(np.array(pic, np.uint8, copy=True))
    img = img.view(pic.size[1], pic.size[0], 1).permute((2, 0, 1)).contiguous()
    return img.to(dtype=torch.get_default_dtype()).div(255)


def seeds_epoch(train: Split, test: Split, workers: int) -> float:
    """The seeds' train_epoch_ch3 + evaluate_accuracy over DataLoaders; returns test accuracy."""
    torch.manual_seed(0)
    net = new_model("linear")
    loss = torch.nn.CrossEntropyLoss(reduction="none")
    updater = torch.optim.SGD(net.parameters(), lr=0.1)
    train_iter = DataLoader(SeedsFashionMNIST(train), batch_size=256, shuffle=True,
                            num_workers=workers)
    test_iter = DataLoader(SeedsFashionMNIST(test), batch_size=256, shuffle=False,
                           num_workers=workers)
    net.train()
    metric = np.zeros(3)
    for X, y in train_iter:
        y_hat = net(X)
        l = loss(y_hat, y)
        updater.zero_grad()
        l.mean().backward()
        updater.step()
        metric += (float(l.sum()), float((y_hat.argmax(axis=1) == y).sum()), y.numel())
    net.eval()
    correct = total = 0
    with torch.no_grad():
        for X, y in test_iter:
            correct += float((net(X).argmax(axis=1) == y).sum())
            total += y.numel()
    return correct / total


def our_epoch(train: Split, test: Split) -> float:
    """One epoch of training.loop's loop with the same settings; returns test accuracy."""
    config = TrainConfig(data_dir=Path("."), batch_size=256, lr=0.1, progress=False)
    torch.manual_seed(0)
    model = new_model("linear")
    learner = ModuleLearner(model, make_optimizer("sgd", model, 0.1))
    train_epoch(learner, train, config, torch.Generator().manual_seed(0), "epoch")
    return evaluate(learner, test, config.eval_batch_size)


@torch.no_grad()
def forward_floor(train: Split, test: Split) -> None:
    """Only the forward pass over the same batches (train in 256s, test in 4096s)."""
    model = new_model("linear").eval()
    order = torch.randperm(len(train))
    for start in range(0, len(train), 256):
        model(take(train, order[start:start + 256])[0])
    for start in range(0, len(test), 4096):
        model(as_float(test.images[start:start + 4096]))


def timed(fn, *args) -> tuple[float, object]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-size", type=int, default=60_000, help="default: 60000")
    p.add_argument("--test-size", type=int, default=10_000, help="default: 10000")
    p.add_argument("--workers", type=int, default=4, help="seeds' DataLoader workers (default: 4)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch intra-op threads in this process, for both loops; 0 keeps torch's "
                        "default, one per core, as the training CLI and the seeds do (default: 0; "
                        "on a busy shared CPU, 1 is faster)")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs of each of the three; the fastest of each is reported (default: 3)")
    a = p.parse_args()
    # The seeds' code as written warns (4 workers on a 2-core machine, float() of a tensor that
    # requires grad, PIL's mode= argument); the warnings are about the copied code, not results.
    warnings.simplefilter("ignore", UserWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as folder:
        write_synthetic(Path(folder), a.train_size, a.test_size, gz=False)
        data = load_dataset(Path(folder), download=False)
    print(f"{len(data.train)} train + {len(data.test)} test synthetic images (IDX), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    # One block each, seeds last: its worker processes wind down after an epoch and would slow
    # whatever runs next on a 2-core machine.
    # Warm-up on a few batches: the first matrix product of a process pays the BLAS set-up.
    warm = Split(data.train.images[:1024], data.train.labels[:1024])
    our_epoch(warm, warm)
    forward_floor(warm, warm)
    ours_runs = [timed(our_epoch, data.train, data.test) for _ in range(a.repeat)]
    floor_runs = [timed(forward_floor, data.train, data.test) for _ in range(a.repeat)]
    seeds_runs = [timed(seeds_epoch, data.train, data.test, a.workers) for _ in range(a.repeat)]
    ours, floor, seeds = min(ours_runs), min(floor_runs)[0], min(seeds_runs)
    every = lambda runs: ", ".join(f"{seconds:.3f}" for seconds, _ in runs)  # noqa: E731
    print(f"ours:  {ours[0]:8.3f} s per epoch (test acc {ours[1]:.3f}; runs {every(ours_runs)})")
    print(f"seeds: {seeds[0]:8.3f} s per epoch (test acc {seeds[1]:.3f}; runs "
          f"{every(seeds_runs)}; PIL + ToTensor per sample, DataLoader num_workers={a.workers})")
    print(f"floor: {floor:8.3f} s (bare forward pass over the same batches; runs "
          f"{every(floor_runs)})")
    print(f"speed-up: {seeds[0] / ours[0]:.1f}x faster than the seeds' loop; "
          f"ours is {ours[0] / floor:.1f}x the forward-pass floor")


if __name__ == "__main__":
    main()
