"""`execute` hands its run to `simulate` (`sim.CheckedRun`), which times it instead of
running the program again: the report must be the one a fresh simulation gives, field by
field, for a program whose run does not depend on timing (a MoE layer), one whose
eager_merges follow arrival order, and one with a dispatch feedback loop; on another target
the run is timed afresh. And the run `execute` writes out must be the arrival-ordered run
itself: running the program again with the orders it used gives the same outputs."""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest

from benchmarks.perf.report_fingerprints import FIELDS, digest
from benchmarks.task import SUITES_DIR, load_task
from dsl import step
from interpreter.step import BACKEND
from interpreter.step.run import Declared, run_functional
from interpreter.step.sim import CheckedRun, arrival_ordered
from interpreter.targets import load_target
from interpreter.verify.compare import poisoned
from tests.interpreter.step import dispatch_programs as dp

TARGET = load_target("step_default")


def _suite_case(name: str):
    """The program, inputs, dims and poisoned outputs of a STeP suite task's baseline."""
    task = load_task(SUITES_DIR / "step" / f"{name}.toml")
    module = types.ModuleType("baseline")
    exec(compile(task.baseline_source(), "baseline.py", "exec"), module.__dict__)
    program = BACKEND.load(step.trace(module.kernel, task.signature()))
    dims = task.full_dims(task.checks[0])
    return program, task.make_inputs(dims, 11), dims, poisoned(task, dims)


def _dispatch_case():
    program = step.load_ir(step.trace(dp.dynamic, dict(dp.SIG, params={})))
    out = {"y": np.full((dp.N, dp.C), np.nan, np.float32)}
    return program, dp.inputs([1, 16, 1, 16, 1, 16, 1, 16]), {}, out


CASES = {
    "moe_layer_qwen": lambda: _suite_case("moe_layer_qwen"),
    "eager_merge": lambda: _suite_case("moe_expert_token_sum"),
    "dispatch": _dispatch_case,
}


def _fields(report) -> dict[str, str]:
    return {f: digest(getattr(report, f)) for f in FIELDS}


@pytest.mark.parametrize("case", CASES)
def test_a_checked_run_is_timed_as_a_fresh_simulation(case) -> None:
    program, inputs, dims, outputs = CASES[case]()
    copy = {k: v.copy() for k, v in inputs.items()}
    checked = BACKEND.execute(program, copy, outputs, dims, TARGET)
    assert isinstance(checked, CheckedRun)
    # the timing is in the run exactly when the program's outputs depend on it
    assert (checked.times is not None) == arrival_ordered(program)
    assert (case != "moe_layer_qwen") == arrival_ordered(program)
    fresh = BACKEND.simulate(program, {k: v.copy() for k, v in inputs.items()}, dims, TARGET)
    reused = BACKEND.simulate(program, copy, dims, TARGET, checked=checked)
    assert fresh.cycles > 0
    assert _fields(reused) == _fields(fresh)


@pytest.mark.parametrize("case", ["eager_merge", "dispatch"])
def test_another_target_times_the_run_afresh(case) -> None:
    """Queue depths decide arrival order: a run timed on one target is not reused on
    another (its report is the other target's own)."""
    program, inputs, dims, outputs = CASES[case]()
    checked = BACKEND.execute(program, dict(inputs), outputs, dims, TARGET)
    shallow = {**TARGET, "channel_depth": 1, "offchip_bw": 64}
    fresh = BACKEND.simulate(program, dict(inputs), dims, shallow)
    reused = BACKEND.simulate(program, dict(inputs), dims, shallow, checked=checked)
    assert _fields(reused) == _fields(fresh)
    assert fresh.cycles != BACKEND.simulate(program, dict(inputs), dims, TARGET).cycles


@pytest.mark.parametrize("case", ["eager_merge", "dispatch"])
def test_the_outputs_are_those_of_the_orders_the_run_used(case) -> None:
    """An arrival-ordered program's outputs come from the last timing round; running the
    program once more with that round's orders (what `execute` did before) writes the
    same values."""
    program, inputs, dims, outputs = CASES[case]()
    checked = BACKEND.execute(program, dict(inputs), outputs, dims, TARGET)
    again, _ = run_functional(program, dict(inputs), dims, checked.ctx.merge_order)
    assert set(again.written) == set(checked.ctx.written)
    for name, (full, mask) in again.written.items():
        np.testing.assert_array_equal(mask, checked.ctx.written[name][1])
        np.testing.assert_array_equal(full[mask], outputs[name][mask].astype(full.dtype))


def test_the_declared_types_of_one_program_are_made_once_and_never_lent() -> None:
    """The backend keeps the last program's `Declared`; a run given another program's
    (even one built from the same IR) makes its own, so its checks read its own types."""
    program, inputs, dims, outputs = _suite_case("moe_expert_token_sum")
    first = BACKEND.declared(program)
    assert BACKEND.declared(program) is first
    twin, *_ = _suite_case("moe_expert_token_sum")
    assert not first.of(twin) and BACKEND.declared(twin) is not first
    # a stranger's Declared is ignored: same written outputs as with the program's own
    mine, _ = run_functional(program, dict(inputs), dims, declared=Declared(program))
    lent, _ = run_functional(program, dict(inputs), dims, declared=Declared(twin))
    for name, (full, mask) in mine.written.items():
        np.testing.assert_array_equal(lent.written[name][0], full)
        np.testing.assert_array_equal(lent.written[name][1], mask)


def test_a_checked_run_is_frozen() -> None:
    program, inputs, dims, outputs = _dispatch_case()
    checked = BACKEND.execute(program, inputs, outputs, dims, TARGET)
    with pytest.raises(dataclasses.FrozenInstanceError):
        checked.times = None  # type: ignore[misc]
