"""STeP on-chip memory hacks: a program must not be able to hold bytes on chip that the
`onchip_bytes` budget does not count.

Before the paper's accounting was completed, a map counted nothing for the tile it writes
(a matmul only 16 rows of its left operand plus its right one), so an outer product of a
[1024, 1] column and a [1, 1024] row — a 4 MiB tile — reduced by a row sum counted about
33 KB and passed step_small's 1 MiB budget."""

from __future__ import annotations

import numpy as np
import pytest

from dsl import step
from dsl.step import load_ir
from interpreter.errors import BudgetError
from interpreter.step import BACKEND
from interpreter.targets import load_target
from tests.dsl.step.helpers import signature

SMALL = load_target("step_small")  # 1 MiB of on-chip memory
N = 1024


def _simulate(kernel, inputs: dict[str, np.ndarray], out: dict):
    sig = signature({k: (str(v.dtype), v.shape) for k, v in inputs.items()}, out)
    return BACKEND.simulate(load_ir(step.trace(kernel, sig)), inputs, {}, SMALL)


def test_a_tile_built_by_a_map_chain_is_counted() -> None:
    def outer_then_sum(a, b):
        col, ref = step.copy(step.linear_offchip_load(a, (N, 1)))
        row = step.expand(step.linear_offchip_load(b, (1, N)), ref)
        outer = step.map([col, row], "matmul")  # [N, N]: 4 MiB that no buffer holds
        return step.linear_offchip_store(step.map(outer, "row_sum"), "c")

    inputs = {"a": np.ones((N, 1), np.float32), "b": np.ones((1, N), np.float32)}
    with pytest.raises(
        BudgetError,
        match=r"needs 4214784 onchip_bytes, but target 'step_small' has a budget of 1048576 "
        r"\(on-chip memory\); the largest user is map \(node 4, line \d+\) with 4194304 bytes",
    ):
        _simulate(outer_then_sum, inputs, {"c": ("float32", [N, 1])})


def test_a_dynamic_tile_counts_at_the_size_it_grows_to() -> None:
    """Gathering all 2048 rows into one dynamically sized tile: the accumulator holds
    2048 x 256 x 4 bytes = 2 MiB however the type leaves its height open."""
    rows = 2048

    def gather(x, ids):
        sel = step.map(step.linear_offchip_load(ids, (1, 1)), step.fn.to_selector(n=1))
        (part,) = step.partition(step.linear_offchip_load(x, (1, 256)), sel, 1)
        whole = step.accum(step.promote(part), "retile_row", rank=1)
        return step.linear_offchip_store(step.assume_shape(step.map(whole, "col_sum"), (1,)), "y")

    inputs = {
        "x": np.ones((rows, 256), np.float32),
        "ids": np.zeros((rows, 1), np.int64),
    }
    with pytest.raises(
        BudgetError, match=r"the largest user is accum \(node \d+, line \d+\) with 2097152 bytes"
    ):
        _simulate(gather, inputs, {"y": ("float32", [1, 256])})


def test_buffers_are_never_freed_during_a_run() -> None:
    """Two bufferize/streamify passes one after the other each hold a [64, 64] tile in
    flight and their 4-tile buffer twice; the second cannot reuse the first's bytes, so the
    requirement is their sum (with the load, two streamifies and the store)."""

    def twice(x):
        t = step.linear_offchip_load(x, (64, 64), shape=(1, 4))
        for _ in range(2):
            t = step.streamify(step.bufferize(t, rank=1))
        return step.linear_offchip_store(t, "y")

    tile = 64 * 64 * 4
    inputs = {"x": np.ones((256, 64), np.float32)}
    budget = dict(SMALL, budget={"onchip_bytes": 1 << 24})
    sig = signature({"x": ("float32", (256, 64))}, {"y": ("float32", [256, 64])})
    report = BACKEND.simulate(load_ir(step.trace(twice, sig)), inputs, {}, budget)
    assert report.metrics["onchip_bytes"] == tile + 2 * (tile + 2 * 4 * tile + tile) + tile
