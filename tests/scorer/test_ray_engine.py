"""The ray engine's parts that need no cluster: the one line when Ray is missing or the arguments
do not fit, and the driver's reassembly of Ray's output blocks into planned batches. The engine
itself runs on a real two-node cluster in tests/integration/test_score_ray.py."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from scorer.cli import main
from scorer.ray_engine import RayMissing, _Rows, import_ray


def test_without_ray_the_engine_is_one_line_saying_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # None in sys.modules fails the import, as if absent
    with pytest.raises(RayMissing, match=r"pip install 'fashion-mnist-serving\[ray\]'"):
        import_ray()
    assert main([str(tmp_path), "--out", str(tmp_path / "out.csv"), "--engine", "ray"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --engine ray needs Ray Data")
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("args, message", [
    (["--engine", "ray", "--url", "http://127.0.0.1:1"], "leave out --url"),
    (["--ray-address", "127.0.0.1:6379"], "--ray-address needs --engine ray"),
])
def test_arguments_that_do_not_fit_the_engine(tmp_path, capsys, args, message):
    assert main([str(tmp_path), "--out", str(tmp_path / "out.csv"), *args]) == 2
    assert message in capsys.readouterr().err


def test_rows_are_taken_a_planned_batch_at_a_time_whatever_ray_blocks_hold():
    blocks = [{"probabilities": np.full((n, 10), start, np.float32),
               "ood_score": np.arange(start, start + n, dtype=np.float32),
               "error": np.array([f"e{start + i}" for i in range(n)], dtype=object)}
              for start, n in ((0, 3), (3, 1), (4, 5))]
    rows = _Rows(iter(blocks))
    taken = [rows.take(n) for n in (2, 4, 3)]
    assert [errors for _, _, errors in taken] == [["e0", "e1"], ["e2", "e3", "e4", "e5"], ["e6", "e7", "e8"]]
    assert [p[:, 0].tolist() for p, _, _ in taken] == [[0, 0], [0, 3, 4, 4], [4, 4, 4]]
    assert [scores.tolist() for _, scores, _ in taken] == [[0, 1], [2, 3, 4, 5], [6, 7, 8]]
