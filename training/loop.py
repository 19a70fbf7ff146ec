"""The training loop: the data set stays in memory on the device; batches are index slices."""
from __future__ import annotations

import time
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from training.config import TrainConfig
from training.data import Dataset, Split
from training.monitor import Monitor


class Learner(Protocol):
    """What `fit` needs: one training step on a batch and logits without gradients."""

    def train_step(self, images: torch.Tensor, labels: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]: ...  # (mean loss, logits), detached

    def logits(self, images: torch.Tensor) -> torch.Tensor: ...


class ModuleLearner:
    """An nn.Module trained with autograd and a torch optimizer."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model, self.optimizer = model, optimizer

    def train_step(self, images, labels):
        if not self.model.training:  # flipping the mode walks every submodule: not per step
            self.model.train()
        logits = self.model(images)
        loss = F.cross_entropy(logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), logits.detach()

    @torch.no_grad()
    def logits(self, images):
        self.model.eval()
        return self.model(images)


def make_optimizer(name: str, model: nn.Module, lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr)
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr)
    raise ValueError(f"unknown optimizer {name!r} (expected sgd or adam)")


def as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28] in [0, 1]: what d2l.ai's ToTensor gives."""
    return images.unsqueeze(1).float().div_(255)


def take(split: Split, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch of images (float, [B,1,28,28]) and labels at `index`.

    index_select copies whole rows; `images[index]` (advanced indexing) goes element by element,
    much slower on CPU (benchmarks/train_speed.py).
    """
    images = torch.index_select(split.images, 0, index)
    return as_float(images), torch.index_select(split.labels, 0, index)


def predict_logits(learner: Learner, split: Split, batch_size: int = 4096) -> torch.Tensor:
    """Logits for every image of `split`, in order."""
    with torch.no_grad():
        return torch.cat([learner.logits(as_float(split.images[i:i + batch_size]))
                          for i in range(0, len(split), batch_size)])


def evaluate(learner: Learner, split: Split, batch_size: int = 4096) -> float:
    """Accuracy on `split`."""
    predicted = predict_logits(learner, split, batch_size).argmax(dim=1)
    return (predicted == split.labels).float().mean().item()


def train_epoch(learner: Learner, train: Split, config: TrainConfig,
                generator: torch.Generator, desc: str, epoch: int = 1,
                monitor: Monitor | None = None) -> tuple[float, float]:
    """One pass over a fresh shuffle of `train`; returns (mean loss, accuracy) over what it saw.

    `monitor.on_batch` gets the batch loss every `config.log_every` batches: reading it off a GPU
    waits for the device, so not every batch."""
    order = torch.randperm(len(train), generator=generator).to(train.images.device)
    starts = range(0, len(train), config.batch_size)
    if config.dry_run:
        starts = starts[:1]
    loss_sum = torch.zeros((), device=train.images.device)
    correct = torch.zeros((), dtype=torch.long, device=train.images.device)
    seen = 0
    # Reading a loss off the GPU waits for it, so the bar's numbers refresh only ~20 times.
    refresh = max(1, len(starts) // 20)
    bar = tqdm(starts, desc=desc, unit="batch", leave=False, disable=not config.progress)
    for step, start in enumerate(bar):
        index = order[start:start + config.batch_size]
        images, labels = take(train, index)
        loss, logits = learner.train_step(images, labels)
        loss_sum += loss * len(index)
        correct += (logits.argmax(dim=1) == labels).sum()
        seen += len(index)
        if config.progress and step % refresh == 0:
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}",
                            acc=f"{correct.item() / seen:.3f}", refresh=False)
        if monitor is not None and (step + 1) % config.log_every == 0:
            monitor.on_batch(step=(epoch - 1) * len(starts) + step + 1,
                             epoch=epoch - 1 + (step + 1) / len(starts), loss=loss.item())
    return loss_sum.item() / seen, correct.item() / seen


def fit(learner: Learner, data: Dataset, config: TrainConfig,
        monitor: Monitor | None = None) -> list[dict]:
    """Train for `config.epochs`, evaluating on the test split after each; per-epoch metrics,
    each also handed to `monitor.on_epoch` as soon as it is known."""
    generator = torch.Generator().manual_seed(config.seed)  # the shuffle, apart from the init
    history = []
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        desc = f"epoch {epoch}/{config.epochs}"
        train_loss, train_acc = train_epoch(learner, data.train, config, generator, desc,
                                            epoch, monitor)
        test_acc = evaluate(learner, data.test, config.eval_batch_size)
        seconds = time.perf_counter() - started
        history.append({"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
                        "test_acc": test_acc, "seconds": round(seconds, 4)})
        print(f"{desc}  train_loss {train_loss:.4f}  train_acc {train_acc:.4f}  "
              f"test_acc {test_acc:.4f}  {seconds:.2f}s", flush=True)
        if monitor is not None:
            monitor.on_epoch(history[-1])
    return history
