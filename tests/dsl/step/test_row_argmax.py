"""`row_argmax` (the function top-k gating needs, issue 16): its type, values on hand-made
rows (ties go to the lowest column) and its charge of one FLOP per element."""

from __future__ import annotations

import numpy as np
import pytest

from dsl import step
from dsl.errors import ProgramError
from dsl.step.symbolic import Expr
from dsl.step.types import Tile
from interpreter.step import BACKEND
from interpreter.step.functions import IMPLS
from tests.dsl.step.helpers import signature


def _kernel(x):
    tiles = step.linear_offchip_load(x, (2, 4))  # [2, 1] grid of [2, 4] tiles
    idx = step.map(tiles, "row_argmax")
    assert idx.elem == Tile("int64", Expr.const(2), Expr.const(1))
    return step.linear_offchip_store(idx, "y")


SIG = signature({"x": ("float32", [4, 4])}, {"y": ("int64", [4, 1])})


def test_row_argmax_picks_each_rows_max_column_lowest_on_ties() -> None:
    x = np.array(
        [
            [1.0, 5.0, 2.0, 5.0],
            [-3.0, -1.0, -2.0, -9.0],
            [0.0, 0.0, 0.0, 0.0],
            [7.0, 1.0, 1.0, 8.0],
        ],
        dtype=np.float32,
    )
    y = np.full((4, 1), -1, dtype=np.int64)
    BACKEND.execute(step.build(_kernel, SIG), {"x": x}, {"y": y}, {})
    assert y.ravel().tolist() == [1, 1, 0, 3]


def test_row_argmax_needs_a_tile() -> None:
    def kernel(x, ids):
        sel = step.map(step.linear_offchip_load(ids, (1, 2)), step.fn.to_selector(n=4))
        step.sink(step.map(sel, "row_argmax"))
        return step.linear_offchip_store(step.linear_offchip_load(x, (4, 4)), "y")

    sig = signature(
        {"x": ("float32", [4, 4]), "ids": ("int64", [1, 2])}, {"y": ("float32", [4, 4])}
    )
    with pytest.raises(ProgramError, match="row_argmax: argument 0 must be a tile"):
        step.build(kernel, sig)


def test_row_argmax_costs_one_flop_per_element() -> None:
    shapes = [np.array([[2, 4], [8, 16]])]
    assert IMPLS["map:row_argmax"].flops(shapes, {}).tolist() == [8, 128]
