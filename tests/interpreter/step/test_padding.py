"""reshape(pad=True) and sink: golden tokens, what padding costs, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import step
from dsl.errors import ProgramError, ValidationError
from dsl.step.ops import RuleError
from dsl.step.symbolic import Expr
from dsl.step.types import Tile
from interpreter.errors import ExecutionError
from interpreter.step import BACKEND
from interpreter.step.sim import run_timed, target_params
from interpreter.step.streams import StreamData
from tests.dsl.step.helpers import signature
from tests.interpreter.step.schedule_check import check_event_times
from tests.interpreter.step.tokens import run_op, run_op_streams, stream_type

INT = Tile("int64", Expr.const(1), Expr.const(1))


@pytest.mark.parametrize(
    ("text", "shape", "chunk", "data", "flags"),
    [
        ("1 2 3 4 5 S1 D", [1, 5], 2, "1 2 S1 3 4 S1 5 0 S2 D", "0 0 S1 0 0 S1 0 1 S2 D"),
        ("1 2 3 4 5 S1 D", [1, 5], 4, "1 2 3 4 S1 5 0 0 0 S2 D", "0 0 0 0 S1 0 1 1 1 S2 D"),
        # every run padded on its own; an empty run stays empty (no chunk, no padding)
        (
            "1 2 3 S1 S1 4 S1 D",
            [3, "r"],
            2,
            "1 2 S1 3 0 S2 S2 4 0 S2 D",
            "0 0 S1 0 1 S2 S2 0 1 S2 D",
        ),
        ("1 2 3 4 S1 D", [1, 4], 2, "1 2 S1 3 4 S2 D", "0 0 S1 0 0 S2 D"),  # exact: no padding
        ("1 2 3 D", [3], 2, "1 2 S1 3 0 S1 D", "0 0 S1 0 1 S1 D"),  # the stream is the run
        ("D", ["n"], 3, "D", "D"),
    ],
)
def test_reshape_pad_golden(text: str, shape: list, chunk: int, data: str, flags: str) -> None:
    assert run_op("reshape", [(text, stream_type(shape))], chunk=chunk, pad=True) == [data, flags]


def test_reshape_pad_types_are_static() -> None:
    def kernel(x):
        rows = step.flatten(step.linear_offchip_load(x, (1, 4)))
        data, flags = step.reshape(rows, 3, pad=True)
        assert [str(d) for d in data.shape] == ["2", "3"] and data.elem == rows.elem
        assert flags.elem == INT and flags.shape == data.shape
        step.sink(flags)
        return step.linear_offchip_store(data, "y")

    sig = signature({"x": ("float32", [5, 4])}, {"y": ("float32", [6, 4])})
    program = step.build(kernel, sig)
    x = np.arange(20, dtype=np.float32).reshape(5, 4)
    y = np.full((6, 4), np.nan, np.float32)
    BACKEND.execute(program, {"x": x}, {"y": y}, {})
    np.testing.assert_array_equal(y, np.vstack([x, np.zeros((1, 4), np.float32)]))


def _tiles_kernel(pad: bool):
    """Rows of x packed 4 to a tile, times w, then back to rows; with pad the tiles are
    fixed [4, 16] and the padding rows are dropped by partition + sink."""

    def kernel(x, w):
        rows = step.flatten(step.linear_offchip_load(x, (1, 16)))  # [N] of [1, 16]
        if pad:
            chunks, flags = step.reshape(rows, 4, pad=True)
            flags = step.accum(flags, "retile_row", rank=1)  # one [4, 1] tile per chunk
        else:
            chunks = step.reshape(rows, 4)
        tiles, ref = step.copy(step.accum(chunks, "retile_row", rank=1))
        wt = step.flatten(step.linear_offchip_load(w, (16, 16), ref=ref, shape=(1,)))
        y = step.map([tiles, wt], "matmul")
        out = step.flatten(step.flat_map(y, step.fn.split_rows(rows=1)))
        if pad:
            flag_rows = step.flatten(step.flat_map(flags, step.fn.split_rows(rows=1)))
            sel = step.map(step.assume_shape(flag_rows, out.shape), step.fn.to_selector(n=2))
            out, padding = step.partition(out, sel, 2)
            step.sink(padding)
        return step.linear_offchip_store(out, "y", stride=(1,))

    return kernel


def _run_tiles(pad: bool, n: int):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 16)).astype(np.float32)
    w = rng.normal(size=(16, 16)).astype(np.float32)
    sig = signature(
        {"x": ("float32", [n, 16]), "w": ("float32", [16, 16])}, {"y": ("float32", [n, 16])}
    )
    program = step.build(_tiles_kernel(pad), sig)
    y = np.full((n, 16), np.nan, np.float32)
    BACKEND.execute(program, {"x": x, "w": w}, {"y": y}, {})
    np.testing.assert_allclose(y, x @ w, rtol=1e-5, atol=1e-5)
    return BACKEND.simulate(program, {"x": x, "w": w}, {}, {"name": "step_default"})


def test_padded_tiles_cost_their_declared_size() -> None:
    """3 rows, tiles of 4: the padded tile is [4, 16] (2*4*16*16 = 2048 matmul FLOPs,
    256 B) where the ragged one is [3, 16] (1536 FLOPs, 192 B)."""
    padded, ragged = _run_tiles(True, 3), _run_tiles(False, 3)

    def ops(report, kind: str) -> list[dict]:
        return [v for k, v in report.per_op.items() if k.startswith(f"{kind} (")]

    assert ops(padded, "map")[0]["flops"] == 2 * 4 * 16 * 16
    assert ops(ragged, "map")[0]["flops"] == 2 * 3 * 16 * 16
    assert ops(padded, "accum")[-1]["onchip_bytes"] == 4 * 16 * 4  # the token tile
    assert ops(ragged, "accum")[-1]["onchip_bytes"] == 3 * 16 * 4
    assert ops(padded, "reshape")[0]["busy_cycles"] == 4  # 3 rows + 1 padding row
    assert ops(ragged, "reshape")[0]["busy_cycles"] == 3
    assert ops(padded, "sink")[0]["elements"] == 1  # the padding row, dropped
    assert padded.cycles > ragged.cycles


def test_padded_tiles_match_when_nothing_is_padded() -> None:
    padded, ragged = _run_tiles(True, 8), _run_tiles(False, 8)
    matmul = [
        next(v["flops"] for k, v in r.per_op.items() if k.startswith("map ("))
        for r in (padded, ragged)
    ]
    assert matmul[0] == matmul[1] == 2 * 8 * 16 * 16


def copy_padded(x, pad=True):
    rows = step.flatten(step.linear_offchip_load(x, (1, 1)))
    if not pad:
        return step.linear_offchip_store(step.reshape(rows, 4), "y", stride=(4, 1))
    data, flags = step.reshape(rows, 4, pad=True)
    step.sink(flags)
    return step.linear_offchip_store(data, "y")


def test_padding_cycles_hand_computed() -> None:
    """5 scalars, chunks of 4, on a huge HBM (latency 10) with deep channels: load item k
    is back at 11 + k; flatten passes it at 11 + k, reshape at 12 + k (k = 0..4) and emits
    the 3 zero tiles at 17, 18, 19; the store takes item j one cycle later (13..20) and its
    last write is back 11 cycles after it ends: 32. Without padding the last of the 5 items
    is stored at 17..18: 29."""
    target = {
        "name": "huge",
        "onchip_bw": 64,
        "flops_per_unit": 512,
        "offchip_bw": 1 << 20,
        "offchip_latency": 10,
        "channel_depth": 16,
        "budget": {"onchip_bytes": 1 << 20},
    }
    x = np.arange(5, dtype=np.float32).reshape(1, 5)
    reports = {}
    for pad, n_out in ((True, 8), (False, 5)):
        sig = signature(
            {"x": ("float32", [1, 5])}, {"y": ("float32", [1, n_out])}, params={"pad": pad}
        )
        reports[pad] = BACKEND.simulate(step.build(copy_padded, sig), {"x": x}, {}, target)
    assert (reports[True].cycles, reports[False].cycles) == (32, 29)
    sink = next(v for k, v in reports[True].per_op.items() if k.startswith("sink"))
    assert sink["busy_cycles"] == 8 and sink["elements"] == 8


def _build_error(kernel, x_shape=(5, 4)) -> str:
    sig = signature({"x": ("float32", list(x_shape))}, {"y": ("float32", list(x_shape))})
    with pytest.raises(ProgramError) as info:
        step.build(kernel, sig)
    return str(info.value)


def test_pad_rejects_outer_dims_non_bool_and_dynamic_tiles() -> None:
    def outer(x):
        step.reshape(step.linear_offchip_load(x, (1, 4)), 2, dim=1, pad=True)

    assert "pad=True pads the innermost dim only" in _build_error(outer)

    def not_bool(x):
        step.reshape(step.flatten(step.linear_offchip_load(x, (1, 4))), 2, pad=1)

    assert "pad must be True or False" in _build_error(not_bool)

    dynamic = stream_type([3], Tile("float32", Expr.sym("n"), Expr.const(4)))
    with pytest.raises(RuleError, match="needs static tiles"):
        run_op("reshape", [("1 2 3 D", dynamic)], chunk=2, pad=True)


def test_pad_attribute_in_ir_must_be_a_bool() -> None:
    def kernel(x):
        data, flags = step.reshape(step.flatten(step.linear_offchip_load(x, (1, 4))), 5, pad=True)
        step.sink(flags)
        return step.linear_offchip_store(data, "y")

    ir = step.trace(kernel, signature({"x": ("float32", [5, 4])}, {"y": ("float32", [5, 4])}))
    assert step.load_ir(json.loads(json.dumps(ir))).nodes[2].attrs["pad"] is True
    node = next(n for n in ir["nodes"] if n["op"] == "reshape")
    node["attrs"]["pad"] = "yes"
    with pytest.raises(ValidationError, match="attribute 'pad': must be true or false"):
        step.load_ir(ir)


def test_sink_is_required_for_unused_outputs_and_is_a_sink() -> None:
    def forgot(x):
        data, _ = step.reshape(step.flatten(step.linear_offchip_load(x, (1, 4))), 5, pad=True)
        return step.linear_offchip_store(data, "y")

    assert "stream never consumed: output 1 of reshape" in _build_error(forgot)

    def sinks_twice(x):
        data, flags = step.reshape(step.flatten(step.linear_offchip_load(x, (1, 4))), 5, pad=True)
        step.sink(flags)
        step.sink(flags)

    assert "already consumed" in _build_error(sinks_twice)


def test_mask_after_default_fill_is_json_safe() -> None:
    """The default fill must survive a strict JSON round trip and still mask to exp 0."""

    def kernel(x, n):
        lens = step.linear_offchip_load(n, (1, 1))  # [1, 1]
        masked = step.map([step.linear_offchip_load(x, (1, 4)), lens], "mask_after")
        return step.linear_offchip_store(step.map(masked, "exp"), "y")

    sig = signature({"x": ("float32", [1, 4]), "n": ("int64", [1, 1])}, {"y": ("float32", [1, 4])})
    program = step.load_ir(json.loads(json.dumps(step.trace(kernel, sig), allow_nan=False)))
    x = np.zeros((1, 4), np.float32)
    y = np.full((1, 4), np.nan, np.float32)
    BACKEND.execute(program, {"x": x, "n": np.array([[2]], np.int64)}, {"y": y}, {})
    np.testing.assert_array_equal(y, [[1, 1, 0, 0]])


@settings(max_examples=25, deadline=None)
@given(
    runs=st.lists(st.integers(0, 9), min_size=1, max_size=6),
    chunk=st.integers(1, 5),
)
def test_reshape_pad_matches_numpy_padding(runs: list[int], chunk: int) -> None:
    """Each run of the innermost dim is padded with zeros to a multiple of chunk."""
    values = np.arange(1, sum(runs) + 1, dtype=np.float32)
    stop, has = [], []
    for n in runs:
        stop += [0] * n
        has += [True] * n
        if n:
            stop[-1] = 1
        else:
            stop.append(1)
            has.append(False)
    x = StreamData(np.array(stop, np.int8), np.array(has, bool), values.reshape(-1, 1, 1))
    data, flags = run_op_streams(
        "reshape", [(x, stream_type([len(runs), "r"]))], chunk=chunk, pad=True
    )
    want, want_flags, at = [], [], 0
    for n in runs:
        padded = -(-n // chunk) * chunk
        want += values[at : at + n].tolist() + [0.0] * (padded - n)
        want_flags += [0] * n + [1] * (padded - n)
        at += n
    assert np.asarray(data.values).reshape(-1).tolist() == want
    assert np.asarray(flags.values).reshape(-1).tolist() == want_flags
    # every chunk is exactly `chunk` long: stops >= 1 fall every chunk values (empty runs aside)
    ends = np.flatnonzero(data.stop[data.has_value] >= 1)
    assert (np.diff(np.concatenate([[-1], ends])) == chunk).all()
    assert np.array_equal(data.stop, flags.stop)


def test_padding_event_times_equal_the_reference_machine() -> None:
    target = {
        "name": "tiny",
        "onchip_bw": 4,
        "flops_per_unit": 512,
        "offchip_bw": 4,
        "offchip_latency": 10,
        "channel_depth": 2,
        "budget": {"onchip_bytes": 1 << 20},
    }
    sig = signature({"x": ("float32", [1, 5])}, {"y": ("float32", [1, 8])})
    program = BACKEND.load(step.trace(copy_padded, sig))
    params = target_params(target)
    x = np.arange(5, dtype=np.float32).reshape(1, 5)
    _, _, plans, times = run_timed(program, {"x": x}, {}, params)
    assert times.cycles == check_event_times(program, plans, params)


def test_padding_beyond_the_item_limit_is_a_clear_error() -> None:
    with pytest.raises(ExecutionError, match="padding to chunks of 50000000 makes"):
        run_op("reshape", [("1 D", stream_type([1]))], chunk=50_000_000, pad=True)


def test_non_finite_function_parameters_are_rejected() -> None:
    def kernel(x, n):
        lens = step.linear_offchip_load(n, (1, 1))
        step.map([step.linear_offchip_load(x, (1, 4)), lens], step.fn.mask_after(fill=-np.inf))

    sig = signature({"x": ("float32", [1, 4]), "n": ("int64", [1, 1])}, {"y": ("float32", [1, 4])})
    with pytest.raises(ProgramError, match="parameter 'fill' must be finite"):
        step.build(kernel, sig)
