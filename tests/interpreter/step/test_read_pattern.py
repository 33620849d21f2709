"""linear_offchip_load makes the pattern of a small read once (`_read_pattern`, cached):
its streams must be exactly those of the direct construction (`_affine_indices` +
`regular` + `nest_uniform`, what every load did before), with and without a ref stream
(empty, with bare stops), the cached arrays must never be handed out writable, and a read
out of the tensor's bounds must still fail, cached or not."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import step
from interpreter.errors import ExecutionError
from interpreter.step import BACKEND
from interpreter.step.run import run_functional
from interpreter.step.semantics import _affine_indices, _read_pattern
from interpreter.step.streams import StreamData, nest_uniform, regular
from tests.dsl.step.helpers import signature


def _direct(shape, stride, base, ref):
    """The load's (stop, has_value, tile indices) built directly, uncached."""
    idx = _affine_indices(shape, stride, base)
    if ref is None:
        sub = regular(shape, None)
        return sub.stop, sub.has_value, idx
    sub = regular(shape, None, nested=True)
    stop, has = nest_uniform(ref, sub.stop, len(shape) - 1, sub.has_value)
    return stop, has, np.tile(idx, ref.n_values)


def _ref_stream(stops: list[int], bare: list[bool]) -> StreamData:
    stop = np.array(stops, np.int8)
    has = ~np.array(bare[: len(stops)] + [False] * (len(stops) - len(bare)), bool)
    return StreamData(stop, has, np.zeros((int(has.sum()), 1, 1), np.float32))


@settings(max_examples=80, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
    | st.tuples(st.integers(1, 3), st.just(0)),
    strided=st.booleans(),
    base=st.integers(0, 5),
    ref=st.none() | st.lists(st.integers(0, 1), max_size=6),
    bare=st.lists(st.booleans(), max_size=6),
)
def test_the_cached_pattern_is_the_direct_one(shape, strided, base, ref, bare) -> None:
    stride = tuple(range(len(shape), 0, -1)) if strided else None
    ref_stream = None if ref is None else _ref_stream(ref, bare)
    idx, lo, hi, sub_stop, sub_has = _read_pattern(shape, stride, base, ref is not None)
    assert not (idx.flags.writeable or sub_stop.flags.writeable)
    want_stop, want_has, want_idx = _direct(shape, stride, base, ref_stream)
    if ref_stream is None:
        stop, has, got_idx = sub_stop, sub_has, idx
    else:
        stop, has = nest_uniform(ref_stream, sub_stop, len(shape) - 1, sub_has)
        got_idx = np.tile(idx, ref_stream.n_values)
    has = np.ones(len(stop), bool) if has is None else has
    np.testing.assert_array_equal(stop, want_stop)
    np.testing.assert_array_equal(has, want_has)
    np.testing.assert_array_equal(got_idx, want_idx)
    raw = _affine_indices(shape, stride, base)
    assert (lo, hi) == ((int(raw.min()), int(raw.max())) if len(raw) else (0, -1))


def _load(x, tile, base):
    return step.linear_offchip_store(step.linear_offchip_load(x, tile, shape=(2,), base=base), "y")


@pytest.mark.parametrize("base, ok", [(0, True), (2, True), (3, False)])
def test_a_read_past_the_tensor_still_fails(base, ok) -> None:
    """x is [4, 4] in [1, 4] tiles: 4 tiles, so a read of 2 tiles from tile 3 leaves it."""
    sig = signature({"x": ("float32", [4, 4])}, {"y": ("float32", [2, 4])}, {})
    sig["params"] = {"tile": (1, 4), "base": base}
    program = BACKEND.load(step.trace(_load, sig))
    x = np.arange(16, dtype=np.float32).reshape(4, 4)
    for _ in range(2):  # the second run reads the cached pattern
        if ok:
            ctx, streams = run_functional(program, {"x": x}, {}, keep=True)
            np.testing.assert_array_equal(ctx.written["y"][0], x[base : base + 2])
            load = next(s for p, s in streams.items() if program.nodes[p.node].op.endswith("load"))
            assert load.stop.flags.writeable and load.has_value.flags.writeable
        else:
            with pytest.raises(ExecutionError, match="tile of 'x' index 4 is outside 0..3"):
                run_functional(program, {"x": x}, {})
