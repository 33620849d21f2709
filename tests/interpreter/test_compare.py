"""The verifier's comparison: feedback names the output, the first bad index and both values
on a fresh check, no size on a held-out one, and no value on the secret timed input."""

from __future__ import annotations

import numpy as np

from benchmarks.task import parse_task
from interpreter.verify.compare import Run, compare, poisoned
from tests.benchmarks.test_task import GOOD, write_suite

DIMS = {"M": 4, "K": 32}


def make_task(tmp_path):
    return parse_task(write_suite(tmp_path, GOOD))


def _one_wrong():
    want = np.zeros((4, 32), dtype=np.float32)
    got = want.copy()
    got[2, 5] = 3.0
    got[3, 0] = 1.0
    return want, got


def test_match_is_none(tmp_path):
    task = make_task(tmp_path)
    y = np.ones((4, 32), dtype=np.float32)
    assert compare(task, {"y": y}, {"y": y + 1e-7}, DIMS) is None


def test_first_mismatch_is_spelled_out(tmp_path):
    task = make_task(tmp_path)
    want, got = _one_wrong()
    feedback = compare(task, {"y": want}, {"y": got}, DIMS)
    assert "output 'y' at index [2, 5]" in feedback
    assert "expected 0.0, got 3.0" in feedback
    assert "2 of 128 elements differ" in feedback and "M=4" in feedback


def test_heldout_mismatch_gives_values_but_no_size(tmp_path):
    task = make_task(tmp_path)
    want, got = _one_wrong()
    feedback = compare(task, {"y": want}, {"y": got}, Run(DIMS, 7, heldout=True))
    assert "on a held-out size" in feedback and "expected 0.0, got 3.0" in feedback
    assert "1.56% of its elements differ" in feedback  # 2 of 128
    for leak in ("M=4", "[2, 5]", "128", "(4, 32)"):
        assert leak not in feedback, leak
    shape = compare(task, {"y": want}, {"y": want[:, :16]}, Run(DIMS, 7, heldout=True))
    assert shape == "output 'y' has the wrong shape on a held-out size"


def test_timed_mismatch_gives_no_values(tmp_path):
    task = make_task(tmp_path)
    want, got = _one_wrong()
    feedback = compare(task, {"y": want}, {"y": got}, Run(DIMS, 7, timed=True))
    assert (
        feedback
        == "output 'y' differs from the reference on the timed input (1.56% of its elements differ)"
    )


def test_unwritten_output_is_named(tmp_path):
    task = make_task(tmp_path)
    got = poisoned(task, DIMS)
    assert np.isnan(got["y"]).all()
    got["y"][:2] = 0.0
    feedback = compare(task, {"y": np.zeros((4, 32), np.float32)}, got, DIMS)
    assert "never written at index [2, 0]" in feedback and "64 of 128" in feedback
    hidden = compare(task, {"y": np.zeros((4, 32), np.float32)}, got, Run(DIMS, 1, timed=True))
    assert (
        hidden
        == "output 'y' was not entirely written on the timed input (50% of its elements unwritten)"
    )


def test_shape_disagreement(tmp_path):
    task = make_task(tmp_path)
    feedback = compare(task, {"y": np.zeros((4, 32))}, {"y": np.zeros((4, 16))}, DIMS)
    assert "shape (4, 16) but the reference has (4, 32)" in feedback
