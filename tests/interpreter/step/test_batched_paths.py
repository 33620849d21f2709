"""The fast paths of `functions.batched` give bit-for-bit what the plain paths give.

A sweep re-reads each weight tile once per token tile: matmul then runs once per distinct
weight tile on a broadcast view (`shared`), and a list of token tiles that do not stack
runs once per tile shape, not once per tile.
"""

from __future__ import annotations

import numpy as np
import pytest

from interpreter.step import functions as F
from interpreter.step.streams import LazyTiles, stack


def _matmul(a: np.ndarray, b: np.ndarray, p: dict) -> np.ndarray:
    return np.matmul(a, np.swapaxes(b, 1, 2) if p.get("transpose_b") else b)


@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shared_weight_tiles_give_the_stacked_result_bit_for_bit(seed, transpose_b) -> None:
    rng = np.random.default_rng(seed)
    grid = rng.standard_normal((5, 16, 16)).astype(np.float32)
    n = 40  # 5 distinct tiles read 8 times each on average: over REUSE
    idx = rng.integers(0, 5, n)
    x = rng.standard_normal((n, 3, 16)).astype(np.float32)
    p = {"transpose_b": transpose_b}
    fast = F.batched(_matmul, shared=True)([x, LazyTiles(grid, idx)], p)
    plain = _matmul(x, grid[idx], p)
    assert fast.dtype == plain.dtype and fast.shape == plain.shape
    assert np.array_equal(fast, plain)
    one_by_one = np.stack([_matmul(x[i : i + 1], grid[idx[i]][None], p)[0] for i in range(n)])
    assert np.array_equal(fast, one_by_one)


def test_rarely_reused_tiles_take_the_stacked_path() -> None:
    calls: list[int] = []

    def counting(a: np.ndarray, b: np.ndarray, p: dict) -> np.ndarray:
        calls.append(len(a))
        return _matmul(a, b, p)

    grid = np.arange(3 * 4 * 4, dtype=np.float32).reshape(3, 4, 4)
    x = np.ones((6, 2, 4), np.float32)
    F.batched(counting, shared=True)([x, LazyTiles(grid, np.array([0, 1, 2, 0, 1, 2]))], {})
    assert calls == [6]  # 3 distinct tiles * REUSE > 6 elements: one stacked call
    calls.clear()
    F.batched(counting, shared=True)([x, LazyTiles(grid, np.zeros(6, np.int64))], {})
    assert calls == [6]  # one distinct tile: one call on its broadcast view
    calls.clear()
    F.batched(counting, shared=True)(
        [np.ones((8, 2, 4), np.float32), LazyTiles(grid, np.array([0, 1] * 4))], {}
    )
    assert sorted(calls) == [4, 4]


def test_ragged_token_tiles_run_once_per_shape_bit_for_bit() -> None:
    """Token tiles that do not stack (static tiles and a smaller last one) are batched per
    shape: one call per distinct shape, each result the one its tile alone gives, and the
    lazily loaded weights copied only per group (a block at most), never as a whole."""
    calls: list[tuple[int, int]] = []

    def counting(a: np.ndarray, b: np.ndarray, p: dict) -> np.ndarray:
        calls.append((len(a), a.shape[1]))
        return _matmul(a, b, p)

    rng = np.random.default_rng(3)
    grid = rng.standard_normal((2, 8, 4)).astype(np.float32)
    rows = (3, 5, 3, 1, 3, 5)
    tokens = [rng.standard_normal((r, 8)).astype(np.float32) for r in rows]
    idx = np.array([0, 1, 1, 0, 1, 0])
    got = F.batched(counting, shared=True)([tokens, LazyTiles(grid, idx)], {})
    assert sorted(calls) == [(1, 1), (2, 5), (3, 3)]
    assert isinstance(got, list) and [g.shape for g in got] == [(r, 4) for r in rows]
    for t, i, g in zip(tokens, idx, got, strict=True):
        assert np.array_equal(g, _matmul(t[None], grid[i][None], {})[0])


@pytest.mark.parametrize(
    "idx",
    [
        np.tile(np.arange(40, 48), 16),  # an expert's weight tiles, re-read per token tile
        np.random.default_rng(1).integers(0, 5000, 300),
        np.array([7]),
        np.random.default_rng(2).integers(0, 10**7, 50),  # too sparse to count
        np.zeros(0, np.int64),
    ],
)
def test_distinct_tiles_match_np_unique(idx: np.ndarray) -> None:
    uniq, inverse = F._distinct(idx.astype(np.int64))
    want_uniq, want_inverse = np.unique(idx.astype(np.int64), return_inverse=True)
    assert np.array_equal(uniq, want_uniq) and uniq.dtype == want_uniq.dtype
    assert np.array_equal(inverse, want_inverse) and inverse.dtype == want_inverse.dtype


@pytest.mark.parametrize("shape", [(), (3,), (4, 0), (2, 5)])
def test_stack_matches_np_stack(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
    got, want = stack(arrays), np.stack(arrays)
    assert got.shape == want.shape and got.dtype == want.dtype and np.array_equal(got, want)
