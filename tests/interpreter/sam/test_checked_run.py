"""`simulate(..., checked=execute(...))`: the verifier's timed input is executed, then
simulated; the simulation times the executed run instead of running the program again. That
must be a pure saving: the report (cycles, floor, metrics, per-op figures, timeline,
bottleneck) equal to a simulation from scratch, on a target with a memory model and on one
without, and a run built for another memory model, other dims or another program is never
timed in its place."""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pytest

from benchmarks.task import load_suite
from interpreter.sam import BACKEND
from interpreter.targets import load_target
from interpreter.verify.compare import poisoned

# the module (the package's attribute `simulate` is its function)
SIMULATE = importlib.import_module("interpreter.sam.simulate")
TARGETS = ("sam_comal", "sam_comal_hbm")
TASKS = [t for suite in ("sam", "sam_new") for t in load_suite(suite) if t.baseline]
QUICK = ("spmv", "spgemm_outer", "gcn_layer_karate", "bigbird_attention_b16", "segment_min")


def _baseline(task):
    from benchmarks.perf.report_fingerprints import build

    return build(task, task.baseline_source())


def _report(report) -> dict:
    return dataclasses.asdict(report)


def _copy(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in inputs.items()}


def _check(task, target_name: str) -> None:
    program, target = _baseline(task), load_target(target_name)
    dims = task.full_dims(task.checks[0] if task.checks else {})
    inputs = task.make_inputs(dims, seed=5)
    outputs = poisoned(task, dims)
    checked = BACKEND.execute(program, _copy(inputs), outputs, dims, target=target)
    fresh = BACKEND.simulate(program, _copy(inputs), dims, target)
    reused = BACKEND.simulate(program, _copy(inputs), dims, target, checked=checked)
    assert _report(reused) == _report(fresh), f"{task.key} on {target_name}"
    # the run is timed as it was, not run again: timing it twice gives the same report
    again = BACKEND.simulate(program, _copy(inputs), dims, target, checked=checked)
    assert _report(again) == _report(fresh)


@pytest.mark.parametrize("target_name", TARGETS)
@pytest.mark.parametrize("name", QUICK)
def test_a_checked_run_is_timed_as_a_fresh_simulation(name: str, target_name: str) -> None:
    (task,) = [t for t in TASKS if t.name == name]
    _check(task, target_name)


@pytest.mark.slow  # every SAM baseline on both targets (~20 s)
@pytest.mark.parametrize("target_name", TARGETS)
def test_every_baselines_checked_run_is_timed_as_a_fresh_simulation(target_name: str) -> None:
    for task in TASKS:
        _check(task, target_name)


def test_the_checked_run_is_what_is_timed(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a suitable `checked`, no graph runs again (so the saving is real)."""
    task = next(t for t in TASKS if t.name == "spmv")
    program, target = _baseline(task), load_target("sam_comal")
    dims = task.full_dims(task.checks[0])
    inputs = task.make_inputs(dims, seed=1)
    checked = BACKEND.execute(program, _copy(inputs), poisoned(task, dims), dims, target=target)
    expected = _report(BACKEND.simulate(program, _copy(inputs), dims, target))

    def no_run(*args, **kwargs):
        raise AssertionError("the program ran again")

    monkeypatch.setattr(SIMULATE, "run_graphs", no_run)
    assert _report(BACKEND.simulate(program, {}, dims, target, checked=checked)) == expected


def test_a_run_for_another_memory_model_dims_or_program_is_not_reused() -> None:
    """A run without memory steps (executed for a target without HBM, or by a caller
    that gave no target: with them) must not be timed on a target that wants the other;
    nor a run of other dims or of another program (equal but not the same object)."""
    task = next(t for t in TASKS if t.name == "spmv")
    program = _baseline(task)
    plain, hbm = load_target("sam_comal"), load_target("sam_comal_hbm")
    dims = task.full_dims(task.checks[0])
    inputs = task.make_inputs(dims, seed=2)
    outputs = poisoned(task, dims)
    without_memory = BACKEND.execute(program, _copy(inputs), outputs, dims, target=plain)
    with_memory = BACKEND.execute(program, _copy(inputs), poisoned(task, dims), dims)
    assert not without_memory.memory_steps and with_memory.memory_steps
    for target, wrong in ((hbm, without_memory), (plain, with_memory)):
        fresh = _report(BACKEND.simulate(program, _copy(inputs), dims, target))
        reused = BACKEND.simulate(program, _copy(inputs), dims, target, checked=wrong)
        assert _report(reused) == fresh
    other_dims = task.full_dims(task.heldout[0])
    other_inputs = task.make_inputs(other_dims, seed=2)
    assert other_dims != dims
    fresh = _report(BACKEND.simulate(program, _copy(other_inputs), other_dims, plain))
    reused = BACKEND.simulate(program, _copy(other_inputs), other_dims, plain, without_memory)
    assert _report(reused) == fresh
    twin = _baseline(task)  # the same IR loaded again: another object
    assert not without_memory.reusable(twin, dims, False)
    assert without_memory.reusable(program, dict(dims), False)


def test_execute_without_memory_steps_writes_the_same_outputs() -> None:
    """Memory steps are timing only: executing for a target without a memory model (no
    memory steps) writes bit for bit what a run with them writes."""
    for task in TASKS:
        if task.name not in QUICK:
            continue
        program = _baseline(task)
        dims = task.full_dims(task.checks[0] if task.checks else {})
        inputs = task.make_inputs(dims, seed=3)
        a, b = poisoned(task, dims), poisoned(task, dims)
        BACKEND.execute(program, _copy(inputs), a, dims, target=load_target("sam_comal"))
        BACKEND.execute(program, _copy(inputs), b, dims)
        for name in a:
            assert np.array_equal(a[name], b[name], equal_nan=True), (task.key, name)
