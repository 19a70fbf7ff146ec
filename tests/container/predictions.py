"""The check every container test ends with: real test images posted to /predict get the labels
and probabilities that onnxruntime, run here on the served model file, gives."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import requests
from PIL import Image

from training.data import load_idx


def assert_serves_like_onnxruntime(base_url: str, model_dir: Path, data_dir: Path, n: int) -> dict:
    """POST the first `n` t10k images as PNG files; returns the response's JSON."""
    images = load_idx(Path(data_dir) / "t10k-images-idx3-ubyte.gz", 3)[:n]
    session = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    expected = session.run(["probabilities"],
                           {"image": (images.astype(np.float32) / 255.0)[:, None, :, :]})[0]
    files = []
    for i, pixels in enumerate(images):
        png = io.BytesIO()
        Image.fromarray(pixels, mode="L").save(png, format="PNG")
        files.append(("image", (f"t10k-{i}.png", png.getvalue(), "image/png")))
    r = requests.post(f"{base_url}/predict", files=files, timeout=30)
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    classes = json.loads((model_dir / "model.json").read_text())["classes"]
    assert [p["class_index"] for p in predictions] == expected.argmax(axis=1).tolist()
    assert [p["label"] for p in predictions] == [classes[i] for i in expected.argmax(axis=1)]
    served = np.array([[p["probabilities"][c] for c in classes] for p in predictions])
    np.testing.assert_allclose(served, expected, atol=1e-5)
    return r.json()
