"""`simulate(..., checked=execute(...))`: the simulator times the run the check made of the
same input instead of making it again, and must report exactly what it reports alone."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from benchmarks.task import load_task
from dsl import dae
from interpreter.dae import BACKEND
from interpreter.targets import load_target
from interpreter.verify.compare import poisoned
from tests.interpreter.dae.test_core_memory import _signature, row_copy_in_callback
from tests.interpreter.dae.test_timing import TARGET

DAE_SUITE = Path(__file__).resolve().parents[3] / "benchmarks" / "dae"


def _both(program, inputs: dict, outputs: dict, dims: dict, target: dict):
    """The report alone and the report given the functional run of the same inputs."""
    checked = BACKEND.execute(
        program, {k: v.copy() for k, v in inputs.items()}, outputs, dims, target=target
    )
    alone = BACKEND.simulate(program, {k: v.copy() for k, v in inputs.items()}, dims, target)
    reused = BACKEND.simulate(program, dict(inputs), dims, target, checked=checked)
    return dataclasses.asdict(alone), dataclasses.asdict(reused)


@pytest.mark.parametrize("rows", [[0, 0], [3, 1]])
def test_callback_loads_are_reused_exactly(rows):
    """Callbacks that load are timed by the addresses the check's run computed."""
    program = BACKEND.load(dae.trace(row_copy_in_callback, _signature()))
    inputs = {
        "idx": np.array(rows, dtype=np.int64),
        "table": np.arange(64, dtype=np.float32).reshape(4, 16),
    }
    outputs = {"out": np.full((2, 16), np.nan, dtype=np.float32)}
    alone, reused = _both(program, inputs, outputs, {"M": 2, "N": 4}, TARGET)
    assert alone["metrics"]["execute_memory_requests"] > 0
    assert reused == alone


@pytest.mark.parametrize("depth", [None, 8])
def test_a_suite_baseline_is_timed_the_same(depth):
    """A suite baseline on its check shape; with a shallower data queue than the check
    ran under (`depth`), the simulator matches the queues again on the reused access run."""
    task = load_task(DAE_SUITE / "mp_mean.toml")
    program = BACKEND.load(dae.trace(_kernel(task), task.signature()))
    dims = task.full_dims(task.checks[0])
    inputs = task.make_inputs(dims, 7)
    checked = BACKEND.execute(
        program, {k: v.copy() for k, v in inputs.items()}, poisoned(task, dims), dims
    )
    target = load_target(task.target)
    if depth is not None:
        target = {**target, "budget": {**target["budget"], "data_queue_entries": depth}}
    alone = BACKEND.simulate(program, {k: v.copy() for k, v in inputs.items()}, dims, target)
    reused = BACKEND.simulate(program, inputs, dims, target, checked=checked)
    assert dataclasses.asdict(reused) == dataclasses.asdict(alone)


def _kernel(task):
    namespace: dict = {"__name__": "__program__"}
    exec(compile(task.baseline_source(), "baseline.py", "exec"), namespace)
    return namespace["kernel"]
