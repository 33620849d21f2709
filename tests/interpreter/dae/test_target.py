"""The DAE simulator reads its target only through the typed, checked form: a bad value is
refused in one line naming its key, and a typed target times exactly as its table does."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dsl import dae
from interpreter.core.targets import TargetError, typed
from interpreter.dae import BACKEND
from interpreter.dae.target import dae_target
from interpreter.errors import SimulationError
from interpreter.targets import load_target
from tests.dsl.dae.helpers import copy_kernel, copy_signature

TABLE = load_target("dae_default")


def _program():
    return BACKEND.load(dae.trace(copy_kernel, copy_signature(64)))


def _simulate(target) -> float:
    x = np.arange(64, dtype=np.int64)
    return BACKEND.simulate(_program(), {"x": x}, {"N": 64}, target).cycles


def _with(section: str, key: str, value) -> dict:
    return {**TABLE, section: {**TABLE[section], key: value}}


def test_a_typed_target_times_as_its_table_does():
    typed_target = dae_target(TABLE)
    assert dae_target(typed_target) is typed_target
    assert _simulate(dae_target(TABLE)) == _simulate(TABLE)


def test_a_slower_core_costs_more_cycles():
    """Dispatch 4 -> 40 cycles per token: the copy is core-bound (698 cycles on the default
    model), so each of its 64 tokens takes 36 cycles longer."""
    assert _simulate(_with("execute", "dispatch_cycles", 40)) == _simulate(TABLE) + 64 * 36


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("execute", "pop_cycles", 0.5, "[execute] pop_cycles must be a number >= 1, got 0.5"),
        ("access", "pushes_per_cycle", 0, "[access] pushes_per_cycle must be a number > 0"),
        ("cache", "line_bytes", 48.5, "[cache] line_bytes must be a whole number, got 48.5"),
        ("dram", "latency_cycles", -1, "[dram] latency_cycles must be a number >= 0, got -1"),
    ],
)
def test_a_bad_value_is_named(section, key, value, message):
    with pytest.raises(TargetError, match="^target 'dae_default': " + re.escape(message)):
        _simulate(_with(section, key, value))


def test_a_free_case_compare_is_allowed():
    assert typed(_with("execute", "case_compare_cycles", 0)).execute.case_compare_cycles == 0.0


def test_a_missing_section_or_budget_entry_is_named():
    table = {k: v for k, v in TABLE.items() if k != "cache"}
    with pytest.raises(TargetError, match="missing key cache"):
        _simulate(table)
    budget = {k: v for k, v in TABLE["budget"].items() if k != "outstanding_misses"}
    with pytest.raises(SimulationError, match=r"missing \[budget\] outstanding_misses$"):
        _simulate({**TABLE, "budget": budget})
    with pytest.raises(SimulationError, match=r"\[budget\] l2_bytes must be >= 1, got 0.0$"):
        _simulate({**TABLE, "budget": {**TABLE["budget"], "l2_bytes": 0}})
