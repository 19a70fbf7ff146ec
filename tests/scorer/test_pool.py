"""The scorer's worker pool: how many workers a run gets, input order kept across them, workers
scoring files as this process does, and a worker without its model ending the run cleanly."""
from __future__ import annotations

from functools import reduce

import numpy as np
import pytest

from inference.predictor import Predictor
from scorer.pool import Pool, WorkerFailed, WorkerModel, pool_for
from scorer.run import LocalModel, Scored, finish
from scorer.sources import plan
from scorer.csv_writer import CsvWriter
from scorer.jsonl_writer import JsonlWriter
from tests.scorer.samples import CLASSES, real_sample, write_class_folders


@pytest.fixture(scope="module")
def sample(fmnist_dir):
    return real_sample(fmnist_dir, 30)


@pytest.mark.parametrize("workers", [1, 2])
def test_pool_keeps_input_order(tmp_path, sample, workers):
    images, labels = sample
    write_class_folders(tmp_path, images, labels)
    (tmp_path / "bag" / "0000-broken.png").write_bytes(b"broken")
    sources = plan([str(tmp_path)], CLASSES)
    with Pool(workers) as pool:
        batches = list(pool.scored(b for s in sources for b in s.batches(7)))
    files = [p for b in batches for p in b.sources]
    assert files == sorted(files, key=lambda p: (p.rsplit("/", 2)[-2], p))  # walk order kept
    by_name = {p: (b.pixels[i], b.errors[i]) for b in batches for i, p in enumerate(b.sources)}
    broken = by_name.pop(str(tmp_path / "bag" / "0000-broken.png"))
    assert "not a readable image" in broken[1]
    for path, (pixels, error) in by_name.items():
        index = int(path.rsplit("/", 1)[-1][:4])
        assert error is None
        np.testing.assert_array_equal(pixels, images[index] / np.float32(255))


def test_workers_score_files_as_this_process_does(tmp_path, sample, trained_model_dir):
    """Workers with the model send back the same text and counts as predicting and formatting
    here (the one code path, run in another process), batch by batch in input order."""
    images, labels = sample
    write_class_folders(tmp_path, images, labels)
    (tmp_path / "bag" / "0000-broken.png").write_bytes(b"broken")
    model = LocalModel(Predictor.load(trained_model_dir, device="cpu"))
    sources = plan([str(tmp_path)], CLASSES)
    worker_model = WorkerModel(str(trained_model_dir), "onnx", "cpu", CsvWriter)
    with Pool(2, "auto", worker_model) as pool:
        scored = list(pool.scored(b for s in sources for b in s.batches(7)))
    with Pool(1) as pool:
        here = [finish(b, model, model.infer(b), CsvWriter(CLASSES).format)
                for b in pool.scored(b for s in sources for b in s.batches(7))]
    assert all(isinstance(s, Scored) for s in scored) and len(scored) == len(here) == 5
    assert [s.text for s in scored] == [s.text for s in here]
    assert [s.text.count("\n") for s in scored] == [7, 7, 7, 7, 3]
    total, total_here = reduce(Scored.extend, scored), reduce(Scored.extend, here)
    broken = [line for line in total.text.splitlines() if "0000-broken.png" in line]
    assert total.errors == 1 and len(broken) == 1
    assert f"0000-broken.png,,Bag,{',' * 15}not a readable image" in broken[0]
    assert broken[0].endswith(f",{model.version}")
    assert (total.images, total.y_true, total.y_pred) == (31, total_here.y_true, total_here.y_pred)
    assert sorted(total.y_true) == sorted(labels.tolist())  # every labelled image but the broken one
    assert np.mean(np.array(total.y_true) == np.array(total.y_pred)) > 0.5  # a trained model's guesses


def test_a_worker_without_its_model_stops_the_run_with_one_message(tmp_path, sample):
    """A worker whose model does not load (the folder vanished mid-run) raises WorkerFailed with a
    message naming the file, which `scorer` prints as one line, not a traceback per worker."""
    images, labels = sample
    write_class_folders(tmp_path, images[:4], labels[:4])
    gone = WorkerModel(str(tmp_path / "no-model"), "onnx", "cpu", CsvWriter)
    with Pool(2, "auto", gone) as pool, pytest.raises(WorkerFailed) as caught:
        list(pool.scored(b for s in plan([str(tmp_path)], CLASSES) for b in s.batches(2)))
    assert "could not load the model" in str(caught.value)
    assert "no-model" in str(caught.value)


@pytest.mark.parametrize("workers, batch_size, expected", [(8, 7, 5), (2, 7, 2), (8, 100, 1)])
def test_a_run_gets_no_more_workers_than_batches_of_files(tmp_path, sample, trained_model_dir,
                                                           workers, batch_size, expected):
    """30 files in batches of 7 are 5 batches: at most 5 workers, each with the model (CPU), and
    one batch needs no pool at all."""
    images, labels = sample
    write_class_folders(tmp_path, images, labels)
    np.save(tmp_path.parent / f"{tmp_path.name}.npy", images)  # arrays add no work for the workers
    sources = plan([str(tmp_path), str(tmp_path.parent / f"{tmp_path.name}.npy")], CLASSES)
    model = LocalModel(Predictor.load(trained_model_dir, device="cpu"))
    with pool_for(model, sources, batch_size, workers, "auto", str(trained_model_dir), JsonlWriter) as pool:
        assert pool.workers == expected and (pool.pool is None) == (expected == 1)
        items = list(pool.scored(b for s in sources for b in s.batches(batch_size)))
    assert sum(len(item) if not isinstance(item, Scored) else item.images for item in items) == 60
