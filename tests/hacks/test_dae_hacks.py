"""DAE hacks against the reward (issue 9), through the real verifier: loads moved into
callbacks to dodge the memory model, more lanes than the chip has, a loop step that once
crashed the checker. Each is invalid or gains nothing."""

from __future__ import annotations

from functools import cache

import pytest

from benchmarks.task import load_task
from dsl.dae.compiler import compile_spec
from interpreter.verifier import Verdict, verify
from tests.hacks import dae_programs


@cache
def _verdict(key: str, hack: str) -> Verdict:
    """The verdict on `hack` (a program of dae_programs, or an honest compiled program)."""
    task = load_task(key)
    names = tuple(s.name for s in task.inputs)
    o2 = compile_spec(dict(task.spec), names, 2, task.name)  # one row loop of 8 lanes
    o3 = compile_spec(dict(task.spec), names, 3, task.name)
    source = {
        "o3": lambda: o3,
        "split_rows": lambda: dae_programs.SPLIT_ROWS,
        "core_row_loads": lambda: dae_programs.CORE_ROW_LOADS,
        "wide_lanes": lambda: dae_programs.wide_lanes(o2),
        "huge_step": lambda: dae_programs.huge_step(o3),
        "access_reads_output": lambda: dae_programs.ACCESS_READS_OUTPUT,
    }[hack]()
    return verify(task, source, seed=5, time_budget_s=60)


@pytest.mark.parametrize(
    "key, hack",
    [("dae/paged_kv_bs8", "split_rows"), ("dae/eb_sum_hot", "core_row_loads")],
)
def test_loads_in_callbacks_gain_nothing(key, hack):
    """Before, callback loads skipped caches, DRAM and bandwidth: the split-row gather
    passed at 63,764 cycles against the honest 72,476, under the honest floor (65,676), and
    its own floor fell to 49,292. Now the core waits for its misses like any load, and the
    floor counts the lines it reads: the same floor as the honest program, more cycles."""
    honest, hacked = _verdict(key, "o3"), _verdict(key, hack)
    assert honest.status == hacked.status == "passed", hacked.feedback
    assert hacked.cycles > honest.cycles
    assert hacked.floor_cycles == pytest.approx(honest.floor_cycles)


def test_more_lanes_than_the_chip_has_is_invalid():
    v = _verdict("dae/eb_sum_hot", "wide_lanes")
    assert v.status == "invalid"
    assert v.feedback.startswith(
        "the program needs 16 lanes, but target 'dae_default' has a budget of 8"
    )


def test_a_huge_loop_step_is_invalid_not_a_crash():
    """Before: OverflowError inside the verifier ("internal error" in `agent eval`)."""
    v = _verdict("dae/eb_sum_hot", "huge_step")
    assert v.status == "invalid"
    assert "TU 1: step must be in [1, 2147483647], got ~2**70" in v.feedback
    assert "\n" not in v.feedback


def test_the_access_side_cannot_read_an_output():
    """The simulator times the checked run's access side (`CheckedRun`), which saw poisoned
    outputs where the simulation has zeros: reading an output there must be refused."""
    v = _verdict("dae/eb_sum_hot", "access_reads_output")
    assert v.status == "invalid"
    assert "'out' is an output; the access side only reads inputs" in v.feedback
