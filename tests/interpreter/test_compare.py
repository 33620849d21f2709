"""The verifier's comparison: feedback names the output, the first bad index, both values."""

from __future__ import annotations

import numpy as np

from benchmarks.task import parse_task
from interpreter.verifier import _poisoned, compare
from tests.benchmarks.test_task import GOOD, write_suite


def make_task(tmp_path):
    return parse_task(write_suite(tmp_path, GOOD))


def test_match_is_none(tmp_path):
    task = make_task(tmp_path)
    y = np.ones((4, 32), dtype=np.float32)
    assert compare(task, {"y": y}, {"y": y + 1e-7}, {"M": 4, "K": 32}) is None


def test_first_mismatch_is_spelled_out(tmp_path):
    task = make_task(tmp_path)
    want = np.zeros((4, 32), dtype=np.float32)
    got = want.copy()
    got[2, 5] = 3.0
    got[3, 0] = 1.0
    feedback = compare(task, {"y": want}, {"y": got}, {"M": 4, "K": 32})
    assert "output 'y' at index [2, 5]" in feedback
    assert "expected 0.0, got 3.0" in feedback
    assert "2 of 128 elements differ" in feedback and "M=4" in feedback


def test_unwritten_output_is_named(tmp_path):
    task = make_task(tmp_path)
    dims = {"M": 4, "K": 32}
    got = _poisoned(task, dims)
    assert np.isnan(got["y"]).all()
    got["y"][:2] = 0.0
    feedback = compare(task, {"y": np.zeros((4, 32), np.float32)}, got, dims)
    assert "never written at index [2, 0]" in feedback and "64 of 128" in feedback


def test_shape_disagreement(tmp_path):
    task = make_task(tmp_path)
    feedback = compare(task, {"y": np.zeros((4, 32))}, {"y": np.zeros((4, 16))}, {"M": 4, "K": 32})
    assert "shape (4, 16) but the reference has (4, 32)" in feedback
