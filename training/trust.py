"""What training fits on the validation split after the weights: the temperature (training/
calibration.py) and the out-of-distribution detector (training/ood.py), with the model.json
blocks that report them. Test images are only measured, never fitted on."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from training import calibration, ood
from training.data import Split
from training.loop import as_float


@dataclass
class Trust:
    temperature: float
    ood_tensors: dict  # inference.nets.OOD_TENSORS -> float32 arrays
    threshold: float
    calibration_block: dict
    ood_block: dict


def logits_of(model: nn.Module, split: Split, batch_size: int = 4096) -> np.ndarray:
    model = model.cpu().eval()
    with torch.no_grad():
        parts = [model(as_float(split.images[i:i + batch_size].cpu())).double().numpy()
                 for i in range(0, len(split), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, 10))


def fit_trust(model: nn.Module, train: Split, validation: Split, test: Split) -> Trust:
    """T by NLL and the detector on `validation` (the detector's mean and covariance on `train`);
    ECE/NLL and AUROC measured on `test`."""
    val_labels, test_labels = validation.labels.cpu().numpy(), test.labels.cpu().numpy()
    val_logits, test_logits = logits_of(model, validation), logits_of(model, test)
    temperature = calibration.fit_temperature(val_logits, val_labels)
    fitted = calibration.report(val_logits, val_labels, temperature)
    measured = calibration.report(test_logits, test_labels, temperature)
    calibration_block = {
        "method": calibration.METHOD, "temperature": temperature, "fitted_on": "validation",
        "fitted_images": fitted["images"], "bins": calibration.BINS,
        **{key: measured[key] for key in ("ece_before", "ece_after", "nll_before", "nll_after")},
        "measured_on": "test", "measured_images": measured["images"],
        "validation": {key: fitted[key] for key in ("ece_before", "ece_after", "nll_before", "nll_after")},
    }

    tensors, threshold = ood.fit(train.images.cpu().numpy(), validation.images.cpu().numpy())
    inside = ood.score(test.images.cpu().numpy(), tensors)
    against, outsides = {}, []
    for name, images in ood_families().items():
        outside = ood.score(images, tensors)
        outsides.append(outside)
        against[name] = {"images": len(images), "auroc": ood.auroc(inside, outside),
                         "flag_rate": float((outside > threshold).mean())}
    everything = np.concatenate(outsides)
    ood_block = {
        "method": ood.METHOD, "output": "ood_score", "threshold": threshold,
        "accept": ood.ACCEPT, "fitted_on": "validation", "fitted_images": int(len(validation)),
        "statistics": list(ood.STAT_NAMES),
        "auroc": ood.auroc(inside, everything),
        "measured_against": {"in_distribution": f"test split ({len(test)} images)",
                             "in_distribution_flag_rate": float((inside > threshold).mean()),
                             "families": against},
    }
    return Trust(temperature, tensors, threshold, calibration_block, ood_block)


_FAMILIES: dict = {}


def ood_families() -> dict:
    """The non-clothing images, built once per process (decoding the photos takes a second)."""
    if not _FAMILIES:
        from training.ood_families import available

        _FAMILIES.update(available())
    return _FAMILIES
