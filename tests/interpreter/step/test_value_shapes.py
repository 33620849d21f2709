"""A stream's tile shapes are computed once and shared by the shape check and the costs: they
must be what `tile_shapes` says, stay read-only, and give the bytes counted by hand."""

from __future__ import annotations

import numpy as np
import pytest

from dsl.step.symbolic import Expr
from dsl.step.types import Tile
from interpreter.step.costs import item_sizes
from interpreter.step.streams import LazyTiles, StreamData, tile_shapes


def _dynamic() -> StreamData:
    # items: (2x3 tile, no stop), (bare S1), (1x4 tile, S1), (5x1 tile, S2)
    tiles = [np.zeros((2, 3), np.float32), np.zeros((1, 4), np.float32), np.ones((5, 1))]
    return StreamData(np.array([0, 1, 1, 2], np.int8), np.array([1, 0, 1, 1], bool), tiles)


def test_dynamic_tiles_by_hand() -> None:
    s = _dynamic()
    assert s.value_shapes.tolist() == [[2, 3], [1, 4], [5, 1]]
    assert s.value_shapes is s.value_shapes  # once per stream
    with pytest.raises(ValueError):
        s.value_shapes[0, 0] = 7  # shared by every op that reads it
    half = Tile("bfloat16", Expr.sym("R"), Expr.sym("C"))
    assert item_sizes(s, half).tolist() == [12.0, 0.0, 8.0, 10.0]
    assert item_sizes(s, Tile("int64", Expr.const(1), Expr.const(1))).tolist() == [48, 0, 32, 40]


@pytest.mark.parametrize(
    "values",
    [
        np.zeros((3, 2, 5), np.float32),
        LazyTiles(np.zeros((4, 8, 2), np.float32), np.array([3, 0, 3])),
        np.zeros((3, 4), np.int64),  # selectors: no tiles
        [np.zeros((2, 2)), np.zeros(3), np.zeros((1, 6))],  # a non-tile counts (0, 0)
    ],
)
def test_every_container_agrees_with_tile_shapes(values: object) -> None:
    s = StreamData(np.zeros(3, np.int8), np.ones(3, bool), values)
    assert np.array_equal(s.value_shapes, tile_shapes(values))
    assert not s.value_shapes.flags.writeable


def test_item_sizes_are_computed_once_per_element_type_and_read_only() -> None:
    s = _dynamic()
    half = Tile("bfloat16", Expr.sym("R"), Expr.sym("C"))
    sizes = item_sizes(s, half)
    assert item_sizes(s, half) is sizes  # the emitting op, its readers and the accounting
    assert item_sizes(s, Tile("float32", Expr.sym("R"), Expr.sym("C"))).tolist() == [24, 0, 16, 20]
    with pytest.raises(ValueError):
        sizes[0] = 1.0


def test_lists_of_tiles_read_their_shapes_like_the_general_case() -> None:
    """Lists of 2-d arrays take a fast path; anything else in a list (a buffer, a scalar,
    a 1-d array) takes the general one: both must give the same [n, 2] int64 array."""
    tiles = [np.zeros((r, 3), np.float32) for r in (4, 4, 0, 2)]
    got = tile_shapes(tiles)
    assert got.dtype == np.int64 and got.tolist() == [[4, 3], [4, 3], [0, 3], [2, 3]]
    assert tile_shapes([]).shape == (0, 2)
    mixed = [np.zeros((2, 2)), 7, np.zeros((1, 6)), np.float32(1.0)]
    assert tile_shapes(mixed).tolist() == [[2, 2], [0, 0], [1, 6], [0, 0]]
