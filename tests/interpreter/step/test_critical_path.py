"""The bottleneck sentence from the critical path: hand-built programs whose limiting
resource is known get that resource, the op and its source line, and only advice that
can help it."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import step
from interpreter.step import BACKEND
from interpreter.step.critical_path import HBM, LATENCY, _items_of, _Walk, critical_path
from interpreter.step.sim import run_timed, target_params
from tests.dsl.step.helpers import signature
from tests.interpreter.step import programs

TARGET = {
    "name": "tiny",
    "onchip_bw": 64,
    "flops_per_unit": 512,
    "offchip_bw": 1 << 20,
    "offchip_latency": 10,
    "channel_depth": 2,
    "budget": {"onchip_bytes": 1 << 30, "compute_units": 64, "memory_ports": 64},
}


def _line_of(fn, text: str) -> int:
    """The file line of the first line of `fn` that contains `text`."""
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


def _run(kernel, sig: dict, inputs: dict, dims: dict, target: dict):
    program = BACKEND.load(step.trace(kernel, sig))
    report = BACKEND.simulate(program, inputs, dims, target)
    params = target_params(target)
    _, _, plans, times = run_timed(program, inputs, dims, params)
    return report, critical_path(program, plans, times, params)


def copy_kernel(x, tile=1):
    return step.linear_offchip_store(step.linear_offchip_load(x, (1, tile)), "y")


def test_a_compute_bound_gemm_names_compute_on_the_accum_line() -> None:
    """64x64x64 tiles: 2*64^3 FLOPs at 512/cycle = 1024 cycles per element, far above its
    32 KiB in at 64 B/cycle (512): the accum's compute is nearly the whole path, and the
    advice is more units, as many as the op can use (1024) within the 63 left."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 64, 64), dtype=np.float32)
    report, path = _run(
        programs.gemm,
        programs.gemm_signature(64, 64, 64, tm=64, tn=64, tk=64),
        {"a": a, "b": b},
        {"M": 64},
        TARGET,
    )
    line = _line_of(programs.gemm, "step.accum(")
    assert path.top("compute") == 2
    assert path.by_resource()["compute"] == pytest.approx(1024 + 8)  # + the output's term
    assert report.bottleneck.startswith(
        f"Critical path: {1032 / report.cycles:.0%} of {report.cycles} cycles wait for compute,"
        f" most in accum (node 2, line {line}); raise its compute= from 1 to 64"
    )
    assert "(63 units free on the target)" in report.bottleneck
    assert report.per_op[f"accum (node 2, line {line})"]["critical_cycles"] == 1032
    excerpt = report.bottleneck[report.bottleneck.index("Largest parts of the path, in order:") :]
    assert excerpt.index("accum (node 2") < excerpt.index("linear_offchip_store (node 3")


def test_an_hbm_bound_copy_is_told_to_move_fewer_bytes_not_to_add_units() -> None:
    """64 tiles of 256 B at 4 B/cycle: the HBM serves 64 cycles per tile, back to back; the
    path is the HBM's and no compute= advice is given (there is no compute op)."""
    x = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    sig = signature({"x": ("float32", [64, 64])}, {"y": ("float32", [64, 64])})
    target = dict(TARGET, offchip_bw=4, channel_depth=8)
    report, path = _run(lambda x: copy_kernel(x, 64), sig, {"x": x}, {}, target)
    totals = path.by_resource()
    assert max(totals, key=totals.get) == HBM
    assert totals[HBM] > 0.9 * report.cycles
    assert report.metrics["hbm_utilization"] > 0.9
    assert "wait for HBM bandwidth" in report.bottleneck
    assert "cut off-chip re-reads" in report.bottleneck
    assert "compute=" not in report.bottleneck


def test_a_latency_chain_names_the_load_and_its_line() -> None:
    """Scalar tiles, 1-deep channels and a 100-cycle HBM latency: the load may hold one
    tile in flight, so each of the 16 round trips pays the latency in turn (1 cycle of
    transfer each): a latency chain on the load's line, not a bandwidth problem."""
    x = np.arange(16, dtype=np.float32).reshape(1, 16)
    sig = signature({"x": ("float32", [1, 16])}, {"y": ("float32", [1, 16])})
    target = dict(TARGET, offchip_latency=100, channel_depth=1)
    report, path = _run(copy_kernel, sig, {"x": x}, {}, target)
    line = _line_of(copy_kernel, "step.linear_offchip_load(")
    totals = path.by_resource()
    assert max(totals, key=totals.get) == LATENCY
    assert totals[LATENCY] >= 15 * 100
    assert path.stalls  # the load waits for room: the store has not taken the last tile
    assert f"wait for HBM latency, most in linear_offchip_load (node 0, line {line})" in (
        report.bottleneck
    )
    assert "a latency chain" in report.bottleneck and "compute=" not in report.bottleneck


def test_a_busy_op_off_the_critical_path_is_not_blamed() -> None:
    """Two independent chains: a long one (many scalar tiles) and a short one with one
    heavy exp over a big tile. The exp is the busiest op in total cycles but finishes long
    before the long chain, so the sentence names the long chain's resource."""

    def kernel(x, z):
        slow = step.linear_offchip_store(step.linear_offchip_load(x, (1, 1)), "y")
        heavy = step.map(step.linear_offchip_load(z, (64, 64)), "exp")
        return slow, step.linear_offchip_store(heavy, "w")

    x = np.zeros((1, 512), np.float32)
    z = np.zeros((64, 64), np.float32)
    sig = signature(
        {"x": ("float32", [1, 512]), "z": ("float32", [64, 64])},
        {"y": ("float32", [1, 512]), "w": ("float32", [64, 64])},
    )
    target = dict(TARGET, offchip_latency=10, channel_depth=8)
    report, path = _run(kernel, sig, {"x": x, "z": z}, {}, target)
    exp = next(k for k in report.per_op if k.startswith("map"))
    assert report.per_op[exp]["busy_cycles"] == 256  # 16 KiB / 64 B: the busiest op
    assert report.per_op[exp]["critical_cycles"] == 0
    assert "most in map" not in report.bottleneck


def test_units_offered_to_an_op_built_in_a_loop_are_split_among_its_copies() -> None:
    """Four exps built by one line: editing it raises all four, so the 60 free units of
    the 64 are offered as 60 // 4 = 15 more each (each could use 64: 4 KiB per cycle)."""

    def kernel(x):
        outs = []
        for name in ("y0", "y1", "y2", "y3"):
            exp = step.map(step.linear_offchip_load(x, (16, 64)), "exp")
            outs.append(step.linear_offchip_store(exp, name))
        return tuple(outs)

    x = np.zeros((16, 64), np.float32)
    names = ("y0", "y1", "y2", "y3")
    sig = signature({"x": ("float32", [16, 64])}, {n: ("float32", [16, 64]) for n in names})
    report, _ = _run(kernel, sig, {"x": x}, {}, TARGET)
    assert "raise its compute= from 1 to 16 (60 units free on the target, shared by the 4 ops" in (
        report.bottleneck
    )


@settings(max_examples=6, deadline=None)
@given(
    b=st.integers(1, 12),
    chunk=st.sampled_from([0, 2]),
    depth=st.sampled_from([1, 3]),
    seed=st.integers(0, 99),
)
def test_the_path_accounts_for_every_cycle_of_a_routed_moe(
    b: int, chunk: int, depth: int, seed: int
) -> None:
    """Partition, reassemble, loads driven by refs, bounded channels: walked back from the
    last event to the first, the path's parts add up to the cycle count exactly."""
    rng = np.random.default_rng(seed)
    e, h, f = 3, 8, 16
    inputs = programs.moe_inputs(rng, b, e, h, f)
    target = dict(TARGET, channel_depth=depth, offchip_bw=64, onchip_bw=16, offchip_latency=10)
    sig = programs.moe_signature(e, h, f, 1, tile_f=8, chunk=chunk)
    program = BACKEND.load(step.trace(programs.moe, sig))
    params = target_params(target)
    _, _, plans, times = run_timed(program, inputs, {"B": b}, params)
    path = critical_path(program, plans, times, params)
    assert sum(path.share.values()) == pytest.approx(times.cycles)
    assert sum(c for _, _, c in path.hops) == pytest.approx(times.cycles)


@pytest.mark.parametrize("chunk", [0, 2])
def test_items_at_finds_what_a_scan_of_every_port_finds(chunk: int) -> None:
    """The walk's per-node index of items by event (one search instead of a scan of each
    of a reassemble's inputs or a partition's outputs) gives, for every node, side and
    event, the ports with items there and those items, as scanning every port does."""
    rng = np.random.default_rng(1)
    e, h, f, b = 3, 8, 16, 7
    inputs = programs.moe_inputs(rng, b, e, h, f)
    program = BACKEND.load(
        step.trace(programs.moe, programs.moe_signature(e, h, f, 1, chunk=chunk))
    )
    params = target_params(TARGET)
    _, _, plans, times = run_timed(program, inputs, {"B": b}, params)
    walk = _Walk(program, plans, times, params)
    for v, plan in enumerate(plans):
        for side, arrays in (("cons", plan.cons), ("prod", plan.prod)):
            for event in range(len(plan.cost) + 1):
                want = [(k, _items_of(a, event)) for k, a in enumerate(arrays)]
                got = walk.items_at(v, side, event)
                assert [k for k, _ in got] == [k for k, items in want if len(items)]
                for k, items in got:
                    np.testing.assert_array_equal(items, _items_of(arrays[k], event))
