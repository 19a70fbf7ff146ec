"""`--tensorboard DIR`: one TensorBoard run per training run, in DIR/<run>, so that `tensorboard
--logdir DIR` shows every run side by side.

Tags: `batch/train_loss` (step = batches so far), `epoch/train_loss`, `epoch/train_acc`,
`epoch/test_acc` (step = epoch; the values of metrics.json), the images `test/samples` and
`test/confusion`, the text `model/version`, the hyperparameters with `final/<metric>` (HPARAMS
tab), and the test images in the projector, placed by the model's logits (PROJECTOR tab).
"""
from __future__ import annotations

from pathlib import Path

from training.monitor import EPOCH_METRICS, RunEnd


class TensorBoardMonitor:
    def __init__(self, logdir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.where = str(logdir)
        self.writer = SummaryWriter(log_dir=str(logdir))

    def on_batch(self, step: int, epoch: float, loss: float) -> None:
        self.writer.add_scalar("batch/train_loss", loss, step)

    def on_epoch(self, metrics: dict) -> None:
        for key in EPOCH_METRICS:
            self.writer.add_scalar(f"epoch/{key}", metrics[key], metrics["epoch"])
        self.writer.flush()  # a dashboard open during training sees each epoch as it ends

    def on_end(self, end: RunEnd) -> None:
        import torch
        from torch.utils.tensorboard.summary import hparams

        step = end.epochs[-1]["epoch"]
        self.writer.add_image("test/samples", end.samples_image, step, dataformats="HWC")
        self.writer.add_image("test/confusion", end.confusion_image, step, dataformats="HWC")
        self.writer.add_text("model/version", end.version, step)
        self.writer.add_embedding(
            end.logits, tag="test_logits", global_step=step,
            metadata=[[end.classes[t], end.classes[p]] for t, p in zip(end.labels, end.predicted)],
            metadata_header=["true", "predicted"],
            label_img=torch.from_numpy(end.images).unsqueeze(1).float().div(255))
        # add_hparams would write them into a new run named by the clock, apart from this run's
        # curves; its three summaries written here keep one run per training run.
        final = {f"final/{key}": end.epochs[-1][key] for key in EPOCH_METRICS}
        for summary in hparams({**end.hyperparameters, "version": end.version}, final):
            self.writer.file_writer.add_summary(summary)
        for tag, value in final.items():
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
