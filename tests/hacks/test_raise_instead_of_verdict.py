"""Hacks that made the verifier raise instead of returning a verdict (so `agent eval` died
with "internal error" and a solve run lost the attempt): absurd numbers in the IR, written
with the real dialect APIs. Each must come back as a one-line verdict."""

from __future__ import annotations

import pytest

from benchmarks.task import load_task
from interpreter.verifier import STATUSES, verify


def _edited_baseline(key: str, old: str, new: str) -> tuple:
    task = load_task(key)
    source = task.baseline_source()
    assert old in source, f"{key}'s baseline changed: update this hack"
    return task, source.replace(old, new, 1)


HACKS = {
    # OverflowError in the trusted interpreter before
    "dae loop step=2**70": (
        "dae/eb_sum_hot",
        "with dae.loop(0, D) as zcol:",
        "with dae.loop(0, D, step=2**70) as zcol:",
    ),
    # ValueError in the trusted interpreter before
    "sam with_layout(block=2**40)": (
        "sam/spmv",
        "    y = sam.output(",
        "    A.with_layout(block=2**40)\n    y = sam.output(",
    ),
    # a block large enough to make the checker allocate gigabytes
    "sam with_layout(block=2**14)": (
        "sam/spmv",
        "    y = sam.output(",
        "    A.with_layout(block=2**14)\n    y = sam.output(",
    ),
}


@pytest.mark.parametrize("name", sorted(HACKS))
def test_absurd_numbers_get_a_verdict(name):
    task, source = _edited_baseline(*HACKS[name])
    v = verify(task, source, seed=5, time_budget_s=20)
    assert v.status in STATUSES and v.status != "passed", v.feedback
    assert v.status in ("invalid", "rejected", "timeout"), v.feedback  # the program's fault
    assert "\n" not in v.feedback and v.feedback
