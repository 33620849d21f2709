"""Cycle counts: hand-computed small graphs, the event times against the core's reference
machine and a plain HBM queue (`schedule_check.py`), deadlock and capacity verdicts, and
report contents."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import step
from interpreter.errors import BudgetError, ExecutionError
from interpreter.step import BACKEND
from interpreter.step.sim import run_timed, target_params
from tests.dsl.step.helpers import signature
from tests.interpreter.step import programs
from tests.interpreter.step.schedule_check import check_event_times

TINY = {
    "name": "tiny",
    "onchip_bw": 4,
    "flops_per_unit": 512,
    "offchip_bw": 4,
    "offchip_latency": 10,
    "channel_depth": 2,
    "budget": {"onchip_bytes": 1 << 20},
}


def _simulate(kernel, sig: dict, inputs: dict, dims: dict, target: dict):
    program = BACKEND.load(step.trace(kernel, sig))
    return program, BACKEND.simulate(program, inputs, dims, target)


def copy_kernel(x, tile=1):
    return step.linear_offchip_store(step.linear_offchip_load(x, (1, tile)), "y")


def exp_kernel(x, tile=4):
    return step.linear_offchip_store(step.map(step.linear_offchip_load(x, (1, tile)), "exp"), "y")


def test_load_store_hand_computed() -> None:
    """4 scalar tiles (4 B), HBM 4 B/cycle, latency 10. Reads issue at 0..3, are served
    1..4 and back at 11..14; the store takes them at 11..14 (1 cycle each) and writes at
    12..15, served 13..16, done at 23..26."""
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    sig = signature({"x": ("float32", [1, 4])}, {"y": ("float32", [1, 4])})
    _, report = _simulate(copy_kernel, sig, {"x": x}, {}, dict(TINY, channel_depth=8))
    assert report.cycles == 26
    assert report.floor_cycles == 8  # 32 bytes at 4 B/cycle
    assert report.metrics["offchip_bytes"] == 32


def test_two_deep_channels_hand_computed() -> None:
    """The same copy with 2-deep channels: reads 2 and 3 wait for the store to take items 0
    and 1 (at 11, 12): issued 11, 12, back 22, 23 (read 3 is served before the store's
    first write, both issued at 12: lower node first). Writes issue at 12, 13, 23, 24 and are
    back at 24, 25, 34, 35."""
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    sig = signature({"x": ("float32", [1, 4])}, {"y": ("float32", [1, 4])})
    _, report = _simulate(copy_kernel, sig, {"x": x}, {}, TINY)
    assert report.cycles == 35
    assert [t[1:] for t in report.timeline] == [(0, 13), (11, 24)]


def test_backpressure_hand_computed() -> None:
    """4 tiles of 16 B through exp (16 B / 4 B/cycle = 4 cycles each) with 2-deep channels.
    Reads issue at 0, 1, then wait for exp to take items 0 and 1 (at 14, 18): HBM done at
    4, 8, 18, 22, back at 14, 18, 28, 32; exp runs 14-18, 18-22, 28-32, 32-36; the store
    takes them at 18, 22, 32, 36 and writes at 19, 23, 33, 37: served until 26, 30, 37, 41,
    back at 51."""
    x = np.zeros((1, 16), dtype=np.float32)
    sig = signature({"x": ("float32", [1, 16])}, {"y": ("float32", [1, 16])})
    program, report = _simulate(exp_kernel, sig, {"x": x}, {}, TINY)
    assert report.cycles == 51
    exp_op = next(v for k, v in report.per_op.items() if k.startswith("map (node 1"))
    assert exp_op["busy_cycles"] == 16
    assert report.timeline[1][1:] == (14, 36)


def test_compute_bound_gemm_hand_computed() -> None:
    """64x64x64 GEMM in one 64x64 tile each: one accum element of 2*64^3 + 64^2 FLOPs at
    512 FLOPs/cycle is 1032 cycles. Both 16 KiB reads take a fraction of a cycle on a huge
    HBM: usable from cycle 1, back at 11; accum runs 11..1043; the store takes the tile at
    1043..1044, its write is usable from 1045 and back at 1055."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((64, 64)).astype(np.float32) for _ in range(2))
    target = dict(TINY, onchip_bw=1 << 20, offchip_bw=1 << 20)
    _, report = _simulate(
        programs.gemm,
        programs.gemm_signature(64, 64, 64, tm=64, tn=64, tk=64),
        {"a": a, "b": b},
        {"M": 64},
        target,
    )
    assert report.cycles == 1055
    assert [t[1:] for t in report.timeline] == [(0, 1), (0, 1), (11, 1043), (1043, 1044)]
    assert report.metrics["compute_utilization"] == pytest.approx(
        (2 * 64**3 + 64**2) / (512 * report.cycles)
    )
    assert "compute" in report.bottleneck


def _fast_and_reference(kernel, sig: dict, inputs: dict, dims: dict, target: dict):
    program = BACKEND.load(step.trace(kernel, sig))
    params = target_params(target)
    _, _, plans, times = run_timed(program, inputs, dims, params)
    return times.cycles, check_event_times(program, plans, params)


@settings(max_examples=12, deadline=None)
@given(
    m=st.integers(1, 40),
    tiles=st.sampled_from([(8, 8, 8), (16, 8, 16), (8, 16, 8)]),
    depth=st.sampled_from([1, 2, 4]),
    reuse=st.booleans(),
    seed=st.integers(0, 99),
)
def test_event_times_equal_reference_on_gemm(
    m: int, tiles: tuple, depth: int, reuse: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, 16)).astype(np.float32)
    b = rng.standard_normal((16, 16)).astype(np.float32)
    tm, tn, tk = tiles
    kernel = programs.gemm_reuse if reuse else programs.gemm
    target = dict(TINY, channel_depth=depth, offchip_bw=64, onchip_bw=16)
    fast, ref = _fast_and_reference(
        kernel,
        programs.gemm_signature(None, 16, 16, tm=tm, tn=tn, tk=tk),
        {"a": a, "b": b},
        {"M": m},
        target,
    )
    assert fast == ref


@settings(max_examples=5, deadline=None)
@given(
    b=st.integers(1, 12),
    chunk=st.sampled_from([0, 2]),
    depth=st.sampled_from([1, 3]),
    seed=st.integers(0, 99),
)
def test_event_times_equal_reference_on_moe(b: int, chunk: int, depth: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    e, h, f = 3, 8, 16
    inputs = programs.moe_inputs(rng, b, e, h, f)
    target = dict(TINY, channel_depth=depth, offchip_bw=64, onchip_bw=16)
    fast, ref = _fast_and_reference(
        programs.moe,
        programs.moe_signature(e, h, f, 1, tile_f=8, chunk=chunk),
        inputs,
        {"B": b},
        target,
    )
    assert fast == ref


def test_deadlock_is_reported_naming_the_op() -> None:
    """copy feeds accum (which emits only after all 8 items) and expand (which needs that
    sum before any of its 8 ref items): with 2-deep channels the copy stalls for good."""
    sig = signature({"x": ("float32", [1, 8])}, {"y": ("float32", [1, 8])})

    def stalled(x):
        a, b = step.copy(step.linear_offchip_load(x, (1, 1)))
        return step.linear_offchip_store(step.expand(step.accum(a, "add", rank=1), b), "y")

    program = BACKEND.load(step.trace(stalled, sig))
    x = np.ones((1, 8), np.float32)
    with pytest.raises(
        ExecutionError,
        match=r"deadlock: copy \(node 1.*channel to expand "
        r"\(node 3.*waits for input from accum",
    ):
        BACKEND.simulate(program, {"x": x}, {}, TINY)
    out = {"y": np.zeros((1, 8), np.float32)}
    BACKEND.execute(program, {"x": x}, out, {})  # functionally it is fine
    assert out["y"].tolist() == [[8.0] * 8]
    assert BACKEND.simulate(program, {"x": x}, {}, dict(TINY, channel_depth=8)).cycles > 0


def test_moe_with_a_copied_selector_deadlocks_with_many_tokens() -> None:
    def copied(x, ids, w1, w3, w2):
        sel_route, sel_back = step.copy(
            step.map(step.linear_offchip_load(ids, (1, 1)), step.fn.to_selector(n=2))
        )
        parts = step.partition(step.linear_offchip_load(x, (1, 8)), sel_route, 2)
        tiles = [step.accum(step.promote(p), "retile_row", rank=1) for p in parts]
        rows = [step.flatten(step.flat_map(t, step.fn.split_rows(rows=1))) for t in tiles]
        return step.linear_offchip_store(
            step.accum(step.reassemble(rows, sel_back), "add", rank=1), "y"
        )

    program = BACKEND.load(step.trace(copied, programs.moe_signature(2, 8, 8, 1)))
    rng = np.random.default_rng(0)
    inputs = {
        "x": rng.standard_normal((6, 8)).astype(np.float32),
        "ids": rng.integers(0, 2, (6, 1)),
        "w1": np.zeros((2, 8, 8), np.float32),
        "w3": np.zeros((2, 8, 8), np.float32),
        "w2": np.zeros((2, 8, 8), np.float32),
    }
    with pytest.raises(ExecutionError, match=r"deadlock: copy \(node 2.*reassemble"):
        BACKEND.simulate(program, inputs, {"B": 6}, TINY)


def test_onchip_capacity_verdict_names_the_op() -> None:
    sig = signature({"x": ("float32", [64, 64])}, {"y": ("float32", [64, 64])})

    def kernel(x):
        buf = step.bufferize(step.linear_offchip_load(x, (64, 64), shape=(1, 1)), rank=1)
        return step.linear_offchip_store(step.streamify(buf), "y")

    program = BACKEND.load(step.trace(kernel, sig))
    # a [64, 64] float32 tile is 16384 B: the load, the store and streamify hold one each,
    # bufferize holds one tile in flight plus its buffer twice (49152 B)
    small = dict(TINY, budget={"onchip_bytes": 40_000})
    with pytest.raises(
        BudgetError,
        match=r"needs 98304 onchip_bytes.*budget of 40000 \(on-chip memory\); the largest "
        r"user is bufferize \(node 1, line \d+\) with 49152 bytes",
    ):
        BACKEND.simulate(program, {"x": np.ones((64, 64), np.float32)}, {}, small)


def test_report_has_every_metric_and_plausible_floor() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((40, 32)).astype(np.float32)
    b = rng.standard_normal((32, 48)).astype(np.float32)
    sig = programs.gemm_signature(None, 32, 48, tm=16, tn=16, tk=16)
    _, report = _simulate(programs.gemm, sig, {"a": a, "b": b}, {"M": 40}, {"name": "step_default"})
    for key in (
        "offchip_bytes",
        "onchip_bytes",
        "allocated_compute",
        "compute_utilization",
        "flops",
        "hbm_utilization",
        "stream_elements",
    ):
        assert key in report.metrics
    assert report.cycles >= report.floor_cycles > 0
    assert report.bottleneck and report.per_op and report.timeline
    assert report.to_json()["cycles"] == report.cycles
