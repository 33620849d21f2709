"""`Task.reference_outputs` runs every reference with torch on one thread, for speed only:
on each shipped task's own inputs (every check and held-out size) and on inputs with NaNs
and runs of one value (ties in a max or min), each gives bit-identical outputs on two
threads, and the caller's thread count comes back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.task import load_suite

TASKS = [task for suite in ("step", "sam", "dae") for task in load_suite(suite)]


def _awkward(inputs: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Float inputs with NaNs and runs of one value (indices left as they are)."""
    out = {}
    for name, array in inputs.items():
        array = np.array(array, copy=True)
        if array.dtype.kind == "f" and array.size:
            flat = array.reshape(-1)
            flat[rng.random(flat.size) < 0.3] = 1.5
            flat[rng.random(flat.size) < 0.01] = np.nan
        out[name] = array
    return out


def _on_two_threads(task, inputs: dict[str, np.ndarray], dims: dict) -> dict[str, np.ndarray]:
    """The task's reference function called directly with torch on two threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        tensors = {k: torch.from_numpy(np.array(v, copy=True)) for k, v in inputs.items()}
        with torch.no_grad():
            result = task._function(task.reference)(**tensors, **dims)
    finally:
        torch.set_num_threads(before)
    if not isinstance(result, dict):
        result = {task.outputs[0].name: result}
    return {s.name: result[s.name].numpy().astype(s.dtype, copy=False) for s in task.outputs}


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.key)
def test_one_thread_gives_the_outputs_of_two(task) -> None:
    rng = np.random.default_rng(5)
    for k, assignment in enumerate([*task.checks, *task.heldout] or [{}]):
        dims = task.full_dims(assignment)
        inputs = task.make_inputs(dims, seed=k)
        for arrays in (inputs, _awkward(inputs, rng)):
            one = task.reference_outputs(arrays, dims)
            two = _on_two_threads(task, arrays, dims)
            for name in two:
                assert np.array_equal(one[name], two[name], equal_nan=True), (
                    f"{task.key} {name} {dims}"
                )


def test_the_callers_thread_count_is_restored() -> None:
    task = next(t for t in TASKS if t.key == "step/moe_expert_token_sum")
    dims = task.full_dims(task.checks[0] if task.checks else {})
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        task.reference_outputs(task.make_inputs(dims, seed=0), dims)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_reference_runs_on_one_thread(monkeypatch) -> None:
    task = next(t for t in TASKS if t.key == "step/moe_expert_token_sum")
    dims = task.full_dims(task.checks[0] if task.checks else {})
    real = task._function(task.reference)
    seen = []

    def probe(**kwargs):
        seen.append(torch.get_num_threads())
        return real(**kwargs)

    inputs = task.make_inputs(dims, seed=0)
    monkeypatch.setattr(type(task), "_function", lambda self, ref: probe)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        task.reference_outputs(inputs, dims)
    finally:
        torch.set_num_threads(before)
    assert seen == [1]
