"""The DAE references run torch on one thread (`references._one_thread`), for speed only:
on the suite's own inputs (empty segments, repeated rows, padding included) and on inputs
with NaN and tied values, every reference gives bit-identical outputs on two threads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.dae import references
from benchmarks.task import load_suite

TASKS = load_suite("dae")


def _on_threads(threads: int, reference, tensors, dims):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            return reference(**tensors, **dims)
    finally:
        torch.set_num_threads(before)


def _awkward(inputs: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Float inputs with NaNs and runs of one value (ties in a max or min)."""
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
    reference = getattr(references, task.reference.rsplit(":", 1)[-1])
    rng = np.random.default_rng(3)
    for k, assignment in enumerate([*task.checks, *task.heldout] or [{}]):
        dims = task.full_dims(assignment)
        inputs = task.make_inputs(dims, seed=k)
        for arrays in (inputs, _awkward(inputs, rng)):
            tensors = {name: torch.from_numpy(a) for name, a in arrays.items()}
            one = reference(**tensors, **dims)
            two = _on_threads(2, reference.__wrapped__, tensors, dims)
            assert torch.equal(one, two) or (
                torch.equal(one.isnan(), two.isnan())
                and torch.equal(one.nan_to_num(), two.nan_to_num())
            ), f"{task.key} {dims}"


def test_the_callers_thread_count_is_restored() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        references.moe_gather(torch.zeros(1), torch.zeros(2, dtype=torch.int64), torch.ones(3, 4))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
