"""The critical path through dispatch's feedback channel: a decision that waited for its free
token is charged to the region whose signal it was (that region's work), the bottleneck
sentence says the path waits for a free region, and every cycle is still charged once.

The programs are `dispatch_programs`: request k makes its region load a [1, 256] f32 row
work[k] times (one 1024 B request at 1024 B/cycle: 1 cycle of bandwidth plus the 20-cycle
latency each) and add the rows up (1024 B through a 64 B/cycle port: 16 cycles per row).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import step
from interpreter.step import BACKEND
from interpreter.step.critical_path import HBM, LATENCY, ONE_PER_CYCLE, critical_path
from interpreter.step.dispatch import DECISION_CYCLES
from interpreter.step.sim import run_timed, target_params
from interpreter.targets import load_target
from tests.dsl.step.helpers import signature
from tests.interpreter.step import dispatch_programs as dp

TARGET = load_target("step_default")
BW = "on-chip bandwidth"


def _walk(work: list[int], target: dict = TARGET, **params):
    program = step.load_ir(step.trace(dp.dynamic, dict(dp.SIG, params=params)))
    timing = target_params(target)
    _, _, plans, times = run_timed(program, dp.inputs(work), {}, timing)
    return program, times, critical_path(program, plans, times, timing)


def _node(program, op: str, nth: int = 0) -> int:
    return [n.id for n in program.nodes if n.op == op][nth]


def test_one_region_every_decision_waits_for_the_previous_request_by_hand() -> None:
    """One region: decision k waits for request k-1's free signal, so the path runs through
    the region once per request and the wait of decision k is request k-1's whole visit:
    copy, map, map, flat_map (1 each), the first row's load (1 + 20; the later rows' loads
    overlap the adder), the adder (16 per row), the result's copy (1) and free_signal (1):
    27 + 16 w cycles."""
    work = [1, 2, 3, 1, 2, 3, 1, 2]
    program, times, path = _walk(work, regions=1)
    d, fs = _node(program, "dispatch"), _node(program, "free_signal")
    load, accum = _node(program, "random_offchip_load"), _node(program, "accum")
    waited = work[:-1]  # the last request's signal is nobody's wait
    assert TARGET["offchip_latency"] == 20 and TARGET["offchip_bw"] >= 1024
    assert path.free_regions() == {(d, 0): pytest.approx(sum(27 + 16 * w for w in waited))}
    assert path.free_waits[(d, 0, accum, BW)] == pytest.approx(16 * sum(waited))
    assert path.free_waits[(d, 0, fs, ONE_PER_CYCLE)] == pytest.approx(len(waited))
    assert path.free_waits[(d, 0, load, LATENCY)] == pytest.approx(20 * len(waited))
    assert path.free_waits[(d, 0, load, HBM)] == pytest.approx(len(waited))
    # the dispatcher: 1 cycle of the first request (its index item, the w item overlaps the
    # index's arrival) and 2 items + the decision for each later one; never in a wait
    assert path.share[(d, ONE_PER_CYCLE)] == pytest.approx(1 + (2 + DECISION_CYCLES) * 7)
    assert not any(k[2] == d for k in path.free_waits)
    assert path.share[(accum, BW)] == pytest.approx(16 * sum(work))
    assert sum(path.share.values()) == pytest.approx(times.cycles)


def test_the_sentence_names_the_free_region_wait_and_only_changes_the_program_can_make() -> None:
    program = step.load_ir(step.trace(dp.dynamic, dict(dp.SIG, params={"regions": 1})))
    report = BACKEND.simulate(program, dp.inputs([1, 2, 3, 1, 2, 3, 1, 2]), {}, TARGET)
    d, accum = program.nodes[_node(program, "dispatch")], program.nodes[_node(program, "accum")]
    # 397 of 524 cycles wait for region 0; 208 of them are its adder's (hand sums above)
    assert (
        f"76% of the path waits for a free region: region 0's {accum.label()} {BW} most (40%); "
        f"more regions ({d.label()} has 1 for 8 requests) or a cheaper region body shortens it."
    ) in report.bottleneck
    # a request is one element (rank 0): there is nothing to split finer
    assert "fewer rows per request" not in report.bottleneck


def test_two_regions_blame_the_region_the_decisions_waited_for() -> None:
    """Skewed work on two regions: the 16-row requests dominate the region the path waits
    for, and the path still covers every cycle once."""
    program, times, path = _walk([1, 16, 1, 16, 1, 16, 1, 16], regions=2)
    waits = path.free_regions()
    (d, r), most = max(waits.items(), key=lambda kv: kv[1])
    accum = [n.id for n in program.nodes if n.op == "accum"][r]
    mine = {k[2:]: c for k, c in path.free_waits.items() if k[:2] == (d, r)}
    assert max(mine, key=mine.__getitem__) == (accum, BW)
    assert sum(path.share.values()) == pytest.approx(times.cycles)
    assert most <= times.cycles


def test_a_program_without_dispatch_has_no_free_region_wait() -> None:
    program = step.load_ir(step.trace(dp.round_robin, dict(dp.SIG, params={})))
    report = BACKEND.simulate(program, dp.inputs([1, 16] * 4), {}, TARGET)
    assert "free region" not in report.bottleneck


@settings(max_examples=10, deadline=None)
@given(
    work=st.lists(st.integers(1, 6), min_size=dp.N, max_size=dp.N),
    regions=st.integers(1, 3),
    signal_from=st.sampled_from(["result", "arrival"]),
    depth=st.sampled_from([1, 2, 8]),
    hbm=st.sampled_from([64, 1024]),
)
def test_every_cycle_of_a_feedback_loop_is_charged_once(
    work: list[int], regions: int, signal_from: str, depth: int, hbm: int
) -> None:
    """Any work, region count, signal point, channel depth (the feedback channel is bounded
    by it too) and HBM speed: the path's parts add up to the cycle count exactly, and the
    waits for a free region are a part of what is charged, op by op."""
    target = dict(TARGET, channel_depth=depth, offchip_bw=hbm)
    _, times, path = _walk(work, target, regions=regions, signal_from=signal_from)
    assert sum(path.share.values()) == pytest.approx(times.cycles)
    assert sum(c for _, _, c in path.hops) == pytest.approx(times.cycles)
    for (_, _, v, res), c in path.free_waits.items():
        assert c <= path.share[(v, res)] + 1e-6
    assert np.isclose(sum(path.free_regions().values()), sum(path.free_waits.values()))
    if regions == 1 and signal_from == "result":  # every later decision waits for its token
        assert path.free_regions()


def test_hbm_is_a_resource_of_the_region_wait_when_the_hbm_is_slow() -> None:
    """At 64 B/cycle a row takes 16 cycles of HBM bandwidth: the waits now include them."""
    program, times, path = _walk([2] * 8, dict(TARGET, offchip_bw=64), regions=1)
    d, load = _node(program, "dispatch"), _node(program, "random_offchip_load")
    assert path.free_waits.get((d, 0, load, HBM), 0) > 0
    assert sum(path.share.values()) == pytest.approx(times.cycles)


def two_row_requests(x, w):
    """Requests of two [1, 256] rows each (a rank-1 dispatch), summed by one region."""
    rows = step.linear_offchip_load(x, (1, dp.C), shape=(dp.N,))
    parts = step.dispatch([step.reshape(rows, 2)], 1, rank=1)
    signals = []
    for (part,) in parts:
        total, free = step.copy(step.accum(part, "add", rank=1))
        step.sink(total)
        signals.append(free)
    step.free_signal(signals, of=parts)
    return step.linear_offchip_store(step.linear_offchip_load(w, (1, 1), shape=(dp.N,)), "y")


def test_requests_of_several_rows_are_told_to_hold_fewer_by_hand() -> None:
    """Four requests of two rows: decisions 1-3 each wait for the previous request's two
    adds (16 cycles each), its result's copy (1) and free_signal (1): 3 x 34 cycles."""
    sig = signature(
        {"x": ("float32", [dp.N, dp.C]), "w": ("float32", [dp.N])}, {"y": ("float32", [dp.N])}
    )
    program = step.load_ir(step.trace(two_row_requests, sig))
    data = {"x": np.ones((dp.N, dp.C), np.float32), "w": np.ones(dp.N, np.float32)}
    timing = target_params(TARGET)
    _, _, plans, times = run_timed(program, data, {}, timing)
    path = critical_path(program, plans, times, timing)
    d, accum = _node(program, "dispatch"), _node(program, "accum")
    assert path.free_regions() == {(d, 0): pytest.approx(3 * 34)}
    assert path.free_waits[(d, 0, accum, BW)] == pytest.approx(3 * 32)
    assert sum(path.share.values()) == pytest.approx(times.cycles)
    report = BACKEND.simulate(program, data, {}, TARGET)
    span = report.cycles
    assert (
        f"{102 / span:.0%} of the path waits for a free region: region 0's "
        f"{program.nodes[accum].label()} {BW} most ({96 / span:.0%}); more regions "
        f"({program.nodes[d].label()} has 1 for 4 requests), fewer rows per request or a "
        "cheaper region body shortens it."
    ) in report.bottleneck
