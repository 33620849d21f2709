"""Golden token sequences, one or more per op, including ragged and empty streams.

Token strings: numbers are [1, 1] tiles, {i,j} selectors, S<k> stop tokens, D done.
"""

from __future__ import annotations

import numpy as np
import pytest

from dsl import step
from dsl.step.symbolic import Expr
from dsl.step.types import Buffer, Tile
from interpreter.errors import ExecutionError
from interpreter.step.run import run_functional
from interpreter.step.streams import StreamData
from tests.dsl.step.helpers import signature
from tests.interpreter.step.tokens import (
    SCALAR,
    render,
    run_op,
    run_op_streams,
    selector_type,
    stream_type,
)

R2 = stream_type([2, 2, "r"])


@pytest.mark.parametrize(
    ("text", "lo", "hi", "want"),
    [
        ("1 2 S1 3 S2 4 S1 5 6 S2 D", 0, 1, "1 2 3 S1 4 5 6 S1 D"),
        ("1 S1 S1 2 S2 D", 0, 1, "1 2 S1 D"),  # the empty row vanishes
        ("1 2 S1 3 S2 4 S1 5 6 S2 D", 1, 2, "1 2 S1 3 S1 4 S1 5 6 S1 D"),
        ("D", 0, 1, "D"),
    ],
)
def test_flatten(text: str, lo: int, hi: int, want: str) -> None:
    assert run_op("flatten", [(text, R2)], min_dim=lo, max_dim=hi) == [want]


def test_reshape_innermost_with_short_last_chunk() -> None:
    assert run_op("reshape", [("1 2 3 4 5 S1 D", stream_type([1, 5]))], chunk=2) == [
        "1 2 S1 3 4 S1 5 S2 D"
    ]


def test_reshape_outermost_dim() -> None:
    assert run_op("reshape", [("1 S1 2 S1 3 S1 D", stream_type([3, 1]))], chunk=2, dim=1) == [
        "1 S1 2 S2 3 S2 D"
    ]


def test_reshape_keeps_empty_runs() -> None:
    assert run_op("reshape", [("1 2 3 S1 S1 D", stream_type([2, "r"]))], chunk=2) == [
        "1 2 S1 3 S2 S2 D"
    ]


@pytest.mark.parametrize(
    ("dim", "want"), [(None, "1 2 S1 3 S2 D"), (0, "1 S1 2 S2 3 S2 D"), (1, "1 2 S2 3 S2 D")]
)
def test_promote(dim: int | None, want: str) -> None:
    assert run_op("promote", [("1 2 S1 3 S1 D", stream_type([2, "r"]))], dim=dim) == [want]


def test_promote_of_empty_stream_stays_empty() -> None:
    assert run_op("promote", [("D", stream_type(["n"]))]) == ["D"]


def test_repeat_with_an_empty_run() -> None:
    assert run_op("repeat", [("1 2 S1 D", stream_type([1, 2]))], count=2) == ["1 1 S1 2 2 S2 D"]
    assert run_op("repeat", [("1 S1 S1 D", stream_type([2, "r"]))], count=3) == ["1 1 1 S2 S2 D"]


def test_expand_over_ragged_ref() -> None:
    got = run_op(
        "expand", [("1 2 D", stream_type([2])), ("0 0 0 S1 0 0 S1 D", stream_type([2, "r"]))]
    )
    assert got == ["1 1 1 S1 2 2 S1 D"]


def test_expand_broadcasts_trailing_ones() -> None:
    got = run_op(
        "expand", [("7 S1 8 S1 D", stream_type([2, 1])), ("0 0 S1 0 0 S1 D", stream_type([2, 2]))]
    )
    assert got == ["7 7 S1 8 8 S1 D"]


def test_zip_and_copy_keep_structure() -> None:
    t = stream_type([2, "r"])
    assert run_op("copy", [("1 S1 S1 D", t)]) == ["1 S1 S1 D"] * 2
    zipped = run_op_streams(
        "zip", [("1 2 S1 D", stream_type([1, 2])), ("3 4 S1 D", stream_type([1, 2]))]
    )[0]
    assert isinstance(zipped.values, tuple) and zipped.stop.tolist() == [0, 1]


def test_zip_rejects_different_structures() -> None:
    with pytest.raises(ExecutionError, match="stop-token structure"):
        run_op("zip", [("1 2 S1 D", stream_type([1, "r"])), ("1 S1 2 S1 D", stream_type([1, "r"]))])


def test_map_keeps_bare_stops() -> None:
    got = run_op("map", [("1 2 S1 S1 3 S1 D", stream_type([3, "r"]))], fn=step.fn.scale(factor=2.0))
    assert got == ["2 4 S1 S1 6 S1 D"]


def test_accum_with_an_empty_chunk() -> None:
    got = run_op("accum", [("1 2 S1 3 S2 4 S1 S2 D", R2)], fn="add", rank=1)
    assert got == ["3 3 S1 4 0 S1 D"]


def test_accum_rank_two_and_max() -> None:
    got = run_op("accum", [("1 5 S1 3 S2 4 S1 2 S2 D", R2)], fn="max", rank=2)
    assert got == ["5 4 D"]


def test_scan_restarts_per_run() -> None:
    got = run_op("scan", [("1 2 S1 3 4 S1 D", stream_type([2, 2]))], fn="add", rank=1)
    assert got == ["1 3 S1 3 7 S1 D"]
    got = run_op("scan", [("1 2 S1 3 4 S1 D", stream_type([2, 2]))], fn="add", rank=2)
    assert got == ["1 3 S1 6 10 S1 D"]


def test_scan_least_loaded_dispatch() -> None:
    work = StreamData(
        np.zeros(4, np.int8), np.ones(4, bool), np.array([5, 1, 1, 4], np.int64).reshape(4, 1, 1)
    )
    t = stream_type([4], Tile("int64", Expr.const(1), Expr.const(1)))
    got = run_op_streams("scan", [(work, t)], fn=step.fn.least_loaded(regions=2), rank=1)
    assert render(got[0]) == "{0} {1} {1} {1} D"


def test_partition_elements_and_chunks() -> None:
    got = run_op(
        "partition",
        [("10 20 30 D", stream_type([3])), ("{0} {1} {0,1} D", selector_type(2, [3]))],
        num_consumers=2,
        rank=0,
    )
    assert got == ["10 30 D", "20 30 D"]
    got = run_op(
        "partition",
        [("1 2 S1 3 S1 4 S1 D", stream_type([3, "r"])), ("{1} {0} {1} D", selector_type(2, [3]))],
        num_consumers=2,
        rank=1,
    )
    assert got == ["3 S1 D", "1 2 S1 4 S1 D"]


def test_partition_empty_and_dropped_chunks() -> None:
    got = run_op(
        "partition",
        [("1 S1 S1 2 S1 D", stream_type([3, "r"])), ("{0} {0} {} D", selector_type(2, [3]))],
        num_consumers=2,
        rank=1,
    )
    assert got == ["1 S1 S1 D", "D"]


def test_reassemble_is_ascending_and_closes_groups() -> None:
    t = stream_type(["n"])
    got = run_op(
        "reassemble",
        [("10 30 D", t), ("20 30 D", t), ("{0} {1} {0,1} D", selector_type(2, [3]))],
        rank=0,
    )
    assert got == ["10 S1 20 S1 30 30 S1 D"]
    got = run_op("reassemble", [("1 D", t), ("D", t), ("{0} {} D", selector_type(2, [2]))], rank=0)
    assert got == ["1 S1 S1 D"]


def test_reassemble_rejects_a_chunk_count_mismatch() -> None:
    t = stream_type(["n"])
    with pytest.raises(ExecutionError, match="ran out of chunks"):
        run_op("reassemble", [("1 D", t), ("D", t), ("{1} D", selector_type(2, [1]))], rank=0)


def test_eager_merge_round_robin_before_timing() -> None:
    t = stream_type(["n", "r"])
    got = run_op("eager_merge", [("1 S1 2 S1 D", t), ("3 4 S1 D", t)], rank=1)
    assert got == ["1 S1 3 4 S1 2 S1 D", "{0} {1} {0} D"]


def test_bufferize_then_streamify_round_trip_and_strided_reread() -> None:
    t = stream_type([2, 2])
    bufs = run_op_streams("bufferize", [("1 2 S1 3 4 S1 D", t)], rank=1)[0]
    assert bufs.stop.tolist() == [0, 0]
    buf_t = stream_type([2], Buffer(SCALAR, (Expr.const(2),)))
    assert run_op("streamify", [(bufs, buf_t)]) == ["1 2 S1 3 4 S1 D"]
    assert run_op("streamify", [(bufs, buf_t)], shape=(3,), stride=(0,)) == ["1 1 1 S1 3 3 3 S1 D"]


def test_flat_map_range_with_an_empty_expansion() -> None:
    x = StreamData(
        np.zeros(3, np.int8), np.ones(3, bool), np.array([[[2, 3]], [[5, 0]], [[7, 1]]], np.int64)
    )
    t = stream_type([3], Tile("int64", Expr.const(1), Expr.const(2)))
    assert run_op("flat_map", [(x, t)], fn="range") == ["2 3 4 S1 S1 7 S1 D"]


# --- off-chip ops, through whole programs ---------------------------------------------------
def _streams_of(kernel, inputs: dict, outputs: dict, dims: dict, data: dict) -> list[str]:
    program = step.build(kernel, signature(inputs, outputs, dims))
    _, streams = run_functional(program, data, {k: v for k, v in dims.items() if v}, keep=True)
    return [render(streams[p]) for p in sorted(streams, key=lambda p: (p.node, p.index))]


def test_linear_load_default_strided_and_ref_driven() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)

    def kernel(x):
        a = step.linear_offchip_load(x, (1, 1))
        b = step.linear_offchip_load(x, (1, 1), shape=(2, 2), stride=(0, 1))
        c = step.linear_offchip_load(x, (1, 1), ref=step.flatten(b), shape=(1,), base=5)
        s = step.linear_offchip_store(a, "y")
        t = step.linear_offchip_store(step.flatten(c), "z", stride=(1,))
        return s, t

    got = _streams_of(
        kernel,
        {"x": ("float32", [2, 3])},
        {"y": ("float32", [2, 3]), "z": ("float32", [2, 3])},
        {},
        {"x": x},
    )
    assert got[0] == "0 1 2 S1 3 4 5 S1 D"
    assert got[1] == "0 1 S1 0 1 S1 D"
    assert got[3] == "5 S1 5 S1 5 S1 5 S1 D"


def test_random_load_and_edge_tiles_are_zero_padded() -> None:
    x = np.arange(1, 7, dtype=np.float32).reshape(1, 6)
    ids = np.array([[4], [0]], dtype=np.int64)

    def kernel(x, ids):
        addr = step.linear_offchip_load(ids, (1, 1))
        tiles = step.random_offchip_load(x, addr, (1, 4))
        return step.random_offchip_store(tiles, step.linear_offchip_load(ids, (1, 1)), "y")

    program = step.build(
        kernel,
        signature({"x": ("float32", [1, 6]), "ids": ("int64", [2, 1])}, {"y": ("float32", [1, 6])}),
    )
    with pytest.raises(ExecutionError, match="index 4 is outside 0..1"):
        run_functional(program, {"x": x, "ids": ids}, {})
    ids = np.array([[1], [0]], dtype=np.int64)
    _, streams = run_functional(program, {"x": x, "ids": ids}, {}, keep=True)
    tiles = [s for p, s in streams.items() if p.node == 1][0]
    assert np.asarray(tiles.values.materialize()).reshape(2, 4).tolist() == [
        [5, 6, 0, 0],
        [1, 2, 3, 4],
    ]
