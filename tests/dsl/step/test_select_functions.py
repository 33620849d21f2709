"""`compare`, `where`, `iota` and `gelu_erf` (issue 16's missing STeP functions): types,
values on hand-made tiles, FLOP charges, and the refusals a user can cause."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsl import step
from dsl.errors import ProgramError
from interpreter.step import BACKEND
from interpreter.step.functions import IMPLS
from tests.dsl.step.helpers import signature

X = np.array([[1.0, 5.0, -2.0, 5.0], [0.0, -1.0, 3.0, 2.0]], dtype=np.float32)
SIG = signature({"x": ("float32", [2, 4])}, {"y": ("float32", [2, 4])})


def run(kernel, x=X, sig=SIG, out_dtype=np.float32) -> np.ndarray:
    y = np.full(x.shape, -7, dtype=out_dtype)
    BACKEND.execute(step.build(kernel, sig), {"x": x}, {"y": y}, {})
    return y


def test_compare_then_where_clamps_negatives_to_the_row_max() -> None:
    def kernel(x):
        a, b, c, d = step.copy(step.linear_offchip_load(x, (2, 4)), 4)
        zero = step.map(b, step.fn.scale(factor=0.0))
        negative = step.map([a, zero], step.fn.compare(op="lt"))  # 1.0 where x < 0
        row_max = step.map(c, "row_max")  # [2, 1]: broadcast by where
        return step.linear_offchip_store(step.map([negative, row_max, d], "where"), "y")

    y = run(kernel)
    assert y.tolist() == [[1.0, 5.0, 5.0, 5.0], [0.0, 3.0, 3.0, 2.0]]


@pytest.mark.parametrize(
    "op,expected",
    [
        ("lt", [[1, 0, 1, 0], [1, 1, 0, 1]]),
        ("le", [[1, 1, 1, 1], [1, 1, 1, 1]]),
        ("gt", [[0, 0, 0, 0], [0, 0, 0, 0]]),
        ("ge", [[0, 1, 0, 1], [0, 0, 1, 0]]),
        ("eq", [[0, 1, 0, 1], [0, 0, 1, 0]]),
        ("ne", [[1, 0, 1, 0], [1, 1, 0, 1]]),
    ],
)
def test_compare_each_element_with_its_row_max(op: str, expected: list) -> None:
    def kernel(x):
        a, b = step.copy(step.linear_offchip_load(x, (2, 4)))
        row_max = step.map(b, "row_max")  # [2, 1], broadcast over the columns
        return step.linear_offchip_store(step.map([a, row_max], step.fn.compare(op=op)), "y")

    assert run(kernel).tolist() == expected


def test_iota_gives_column_and_row_indices() -> None:
    sig = signature({"x": ("float32", [2, 4])}, {"y": ("int64", [2, 4])})

    def columns(x):
        return step.linear_offchip_store(step.map(step.linear_offchip_load(x, (2, 4)), "iota"), "y")

    def rows(x):
        tiles = step.linear_offchip_load(x, (2, 4))
        return step.linear_offchip_store(step.map(tiles, step.fn.iota(axis=0)), "y")

    assert run(columns, sig=sig, out_dtype=np.int64).tolist() == [[0, 1, 2, 3]] * 2
    assert run(rows, sig=sig, out_dtype=np.int64).tolist() == [[0] * 4, [1] * 4]


def test_gelu_variants_differ_as_documented() -> None:
    x = np.array([[[-3.0, -0.5, 0.0, 1.0, 2.5]]], dtype=np.float32)
    exact = [v * (1 + math.erf(v / math.sqrt(2))) / 2 for v in x.ravel().tolist()]
    tanh = IMPLS["map:gelu"].apply([x], {})[0, 0]
    erf = IMPLS["map:gelu_erf"].apply([x], {})[0, 0]
    assert np.allclose(erf, exact, atol=1e-6)
    assert not np.allclose(tanh, exact, atol=1e-5) and np.allclose(tanh, exact, atol=2e-3)


def test_refusals_name_the_function() -> None:
    def bad_op(x):
        a, b = step.copy(step.linear_offchip_load(x, (2, 4)))
        return step.linear_offchip_store(step.map([a, b], step.fn.compare(op="<")), "y")

    with pytest.raises(ProgramError, match="compare: op '<' is not one of lt, le, gt, ge"):
        step.build(bad_op, SIG)

    def bad_axis(x):
        tiles = step.linear_offchip_load(x, (2, 4))
        return step.linear_offchip_store(step.map(tiles, step.fn.iota(axis=2)), "y")

    with pytest.raises(ProgramError, match="iota: axis must be 0"):
        step.build(bad_axis, SIG)


def test_flops_one_per_result_element() -> None:
    shapes = [np.array([[2, 4]]), np.array([[2, 1]]), np.array([[2, 4]])]
    assert IMPLS["map:where"].flops(shapes, {}).tolist() == [8]
    assert IMPLS["map:compare"].flops(shapes[:2], {"op": "lt"}).tolist() == [8]
    assert IMPLS["map:iota"].flops(shapes[:1], {"axis": 1}).tolist() == [8]
