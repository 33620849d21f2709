"""The STeP references run torch on one thread (`references._one_thread`), for speed
only: on the suite's own inputs (every check and held-out size) and on inputs with NaNs
and repeated values, every one gives bit-identical outputs on two threads, and the
caller's thread count comes back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.step import references
from benchmarks.task import load_suite

TASKS = load_suite("step")


def _reference(task):
    return getattr(references, task.reference.rsplit(":", 1)[-1])


def _on_threads(threads: int, reference, tensors, dims):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            return reference(**tensors, **dims)
    finally:
        torch.set_num_threads(before)


def _awkward(inputs: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Float inputs with NaNs and runs of one value (indices left as they are)."""
    out = {}
    for name, array in inputs.items():
        array = array.copy()
        if array.dtype.kind == "f" and array.size:
            flat = array.reshape(-1)
            flat[rng.random(flat.size) < 0.3] = 1.5
            flat[rng.random(flat.size) < 0.01] = np.nan
        out[name] = array
    return out


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.key)
def test_one_thread_gives_the_outputs_of_two(task) -> None:
    reference = _reference(task)
    rng = np.random.default_rng(5)
    for k, assignment in enumerate([*task.checks, *task.heldout] or [{}]):
        dims = task.full_dims(assignment)
        inputs = task.make_inputs(dims, seed=k)
        for arrays in (inputs, _awkward(inputs, rng)):
            tensors = {name: torch.from_numpy(a) for name, a in arrays.items()}
            one = reference(**tensors, **dims)
            two = _on_threads(2, reference.__wrapped__, tensors, dims)
            if not isinstance(one, dict):  # a task of several outputs returns them by name
                one, two = {"": one}, {"": two}
            assert one.keys() == two.keys()
            for name in one:
                a, b = one[name], two[name]
                assert torch.equal(a.isnan(), b.isnan()), f"{task.key} {name} {dims}"
                assert torch.equal(a.nan_to_num(), b.nan_to_num()), f"{task.key} {name} {dims}"


def test_the_callers_thread_count_is_restored() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        out = references.moe_expert_token_sum(
            torch.ones(3, 4), torch.tensor([[0, 1], [1, 2], [0, 2]]), E=3
        )
        assert out.tolist() == [[2.0] * 4] * 3
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
