"""What the functional pass no longer redoes per op, and what it must still do.

A shape check is skipped only for arrays already checked against the same declared dims
(copy hands one stream to every output; map keeps its input's stops); an input tensor is cut
into tiles as a read-only view of it, not a copy, with the tiles a copy would have.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dsl import step
from dsl.step.symbolic import Expr
from dsl.step.types import StreamType, tile
from interpreter.errors import ExecutionError
from interpreter.step import BACKEND
from interpreter.step import run as run_module
from interpreter.step.run import run_functional
from interpreter.step.semantics import to_tiles
from interpreter.step.streams import regular
from tests.dsl.step.helpers import signature


def _fan_out(x):
    rows = step.linear_offchip_load(x, (2, 4))
    a, b, c = step.copy(rows, 3)
    y = step.map([step.map([a, b], "add"), c], "mul")
    return step.linear_offchip_store(y, "y")


def test_a_copied_stream_is_checked_once(monkeypatch) -> None:
    sig = signature({"x": ("float32", ["M", 4])}, {"y": ("float32", ["M", 4])}, {"M": None})
    program = BACKEND.load(step.trace(_fan_out, sig))
    checked = []
    real = run_module._check_structure

    def counting(node, port, s, t, dims):
        checked.append(node.op)
        real(node, port, s, t, dims)

    monkeypatch.setattr(run_module, "_check_structure", counting)
    # (the shortcut for regular streams would pass these without the full check)
    monkeypatch.setattr(run_module, "_regular_as_declared", lambda s, wants: False)
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    ctx, _ = run_functional(program, {"x": x}, {"M": 6})
    # load once; copy's three outputs and both maps carry the load's stops and shape
    assert checked == ["linear_offchip_load"]
    full, mask = ctx.written["y"]
    assert mask.all() and np.array_equal(full, (x + x) * x)


def _reference_tiles(x: np.ndarray, tile: tuple[int, int]) -> np.ndarray:
    """Tiles cut one by one, zero-padded, row-major over the grid (what a copy held)."""
    x = x[None, :] if x.ndim == 1 else x
    tr, tc = tile
    *lead, r, c = x.shape
    out = []
    for index in np.ndindex(*lead, -(-r // tr), -(-c // tc)):
        *at, i, j = index
        t = np.zeros(tile, x.dtype)
        part = x[tuple(at)][i * tr : (i + 1) * tr, j * tc : (j + 1) * tc]
        t[: part.shape[0], : part.shape[1]] = part
        out.append(t)
    return np.stack(out)


@pytest.mark.parametrize(
    ("shape", "tile"),
    [((6, 8), (2, 4)), ((3, 4, 6), (4, 2)), ((5, 7), (2, 3)), ((9,), (1, 4)), ((2, 5, 3), (5, 3))],
)
def test_tiles_are_a_read_only_view_with_the_copied_tiles(shape, tile) -> None:
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    grid, want = to_tiles(x, tile), _reference_tiles(x, tile)
    assert len(grid) == len(want) and grid.shape == want.shape
    idx = np.array([len(want) - 1, 0, len(want) // 2, 0])
    assert np.array_equal(grid[idx], want[idx])
    assert np.array_equal(grid[np.zeros(0, np.int64)], want[:0])
    for i in range(len(want)):
        assert np.array_equal(grid[i], want[i])
    rows, cols = (1, *shape)[-2:]
    padded = bool(rows % tile[0] or cols % tile[1])
    assert np.shares_memory(grid[0], x) != padded  # a copy only to pad the edge tiles
    with pytest.raises(ValueError, match="read-only"):
        grid[0][0, 0] = 1.0  # a rule writing into a tile cannot change the caller's tensor


@pytest.mark.parametrize(
    ("shape", "tile"),
    [((4, 16, 32), (16, 8)), ((4, 32, 16), (8, 16)), ((3, 12, 10), (4, 5)), ((2, 5, 6, 7), (2, 3))],
)
def test_a_run_of_tiles_is_a_read_only_view_equal_to_the_copy(shape, tile) -> None:
    """Consecutive tiles along one grid axis (an expert's weight tiles in order) come back
    as a view of the tensor; any other index array, as before, as a copy."""
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    grid, want = to_tiles(x, tile), _reference_tiles(x, tile)
    *lead, gr, gc = grid.view.shape[:-2]
    runs = [np.arange(gc), np.arange(gc) + gc * (gr - 1), np.arange(1, gc)]
    if gc == 1:  # tiles stacked down the rows: a run goes down the grid's rows
        runs += [np.arange(gr), np.arange(1, gr)]
    for key in runs:
        if len(key) < 2:
            continue
        got = grid[key]
        assert np.array_equal(got, want[key]) and np.shares_memory(got, grid.view)
        assert not got.flags.writeable
    rng = np.random.default_rng(0)
    for _ in range(200):  # consecutive or not, within a row or across: the same tiles
        a = int(rng.integers(0, len(want)))
        for key in (np.arange(a, int(rng.integers(a, len(want))) + 1), rng.integers(0, 9, 3)):
            key = key % len(want)
            assert np.array_equal(grid[key], want[key])
    if gc > 1 and gr > 1:  # across a grid row: not one slice, so a copy
        across = np.arange(gc - 1, gc + 1)
        assert not np.shares_memory(grid[across], grid.view)


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(0, 4), min_size=1, max_size=3),
    declared=st.lists(st.integers(0, 4), min_size=1, max_size=3),
    flip=st.one_of(st.none(), st.integers(0, 40)),
    bare=st.booleans(),
)
def test_the_regular_shortcut_passes_only_streams_the_full_check_passes(
    shape: list[int], declared: list[int], flip: int | None, bare: bool
) -> None:
    """`_regular_as_declared` (which skips `_check_structure`) says yes to the regular
    stream of the declared dims, and never to a stream the full check refuses (a changed
    stop level, a bare stop, other dims)."""
    assume(0 not in shape[1:-1])
    s = regular(tuple(shape), np.zeros((int(np.prod(shape)), 1, 1), np.float32))
    if flip is not None and flip < s.n_items:
        s.stop[flip] = (s.stop[flip] + 1) % (len(shape) + 1)
    if bare and s.n_items:
        s.has_value[-1] = False
    t = StreamType(tile("float32", 1, 1), tuple(Expr.const(d) for d in declared))
    node = SimpleNamespace(label=lambda: "op (node 0)")
    wants = tuple(declared)
    try:
        run_module._check_structure(node, 0, s, t, {})
        passes = True
    except ExecutionError:
        passes = False
    shortcut = run_module._regular_as_declared(s, wants)
    assert passes or not shortcut
    if shape == declared and 0 not in shape and flip is None and not bare:
        assert shortcut
