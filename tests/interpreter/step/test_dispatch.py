"""dispatch + free_signal: dynamic parallelization with a feedback loop (a graph cycle).

Checked: the routing rule by hand (`first_free`), exact values whatever the routing, that
the simulated routing is first-free (each chunk went to the region whose signal arrived
first), that every decision waits for its signal and pays its cycle, and that feedback
beats round-robin on skewed work while never beating the busiest region's own work.
"""

from __future__ import annotations

import numpy as np
import pytest

from dsl import step
from dsl.step.ir import Port
from interpreter.errors import ExecutionError
from interpreter.step import BACKEND
from interpreter.step.dispatch import DECISION_CYCLES, Dispatched, first_free
from interpreter.step.sim import run_timed, target_params
from interpreter.targets import load_target
from tests.interpreter.step import dispatch_programs as dp

TARGET = load_target("step_default")
SKEWED = [1, 16, 1, 16, 1, 16, 1, 16]


def _program(kernel=dp.dynamic, **params):
    sig = dict(dp.SIG, params=params)
    return step.load_ir(step.trace(kernel, sig))


def _execute(program, inputs):
    out = {"y": np.full((dp.N, dp.C), np.nan, np.float32)}
    BACKEND.execute(program, inputs, out, {}, TARGET)
    return out["y"]


def test_first_free_by_hand() -> None:
    # nothing measured yet: round-robin
    region, order = first_free(6, 2, None)
    assert region.tolist() == [0, 1, 0, 1, 0, 1]
    assert order.tolist() == [0, 1, 0, 1, 0, 1]
    # chunk 0 takes 5 cycles, the rest 1: region 1 signals at 1, 2, 3, 4 and takes chunks
    # 2..5; at 5 both signal (chunk 0 and chunk 5): the lower region first
    region, order = first_free(6, 2, np.array([5.0, 1, 1, 1, 1, 1]))
    assert region.tolist() == [0, 1, 1, 1, 1, 1]
    assert order.tolist() == [1, 1, 1, 1, 0, 1]
    # fewer chunks than regions: the first wave is all
    region, order = first_free(2, 4, None)
    assert region.tolist() == [0, 1] and sorted(order.tolist()) == [0, 1]


@pytest.mark.parametrize("work", [SKEWED, [3] * 8, [9, 1, 1, 1, 1, 1, 1, 2]])
def test_values_are_exact_whatever_the_routing(work) -> None:
    data = dp.inputs(work)
    got = _execute(_program(), data)
    np.testing.assert_allclose(got, data["work"][:, None] * data["x"], rtol=1e-5, atol=1e-5)


def test_the_simulated_routing_is_first_free_and_every_decision_waits_for_its_signal() -> None:
    program = _program()
    ctx, _, plans, times = run_timed(program, dp.inputs(SKEWED), {}, target_params(TARGET))
    d = next(n for n in program.nodes if n.op == "dispatch")
    fact = ctx.facts[d.id]
    assert isinstance(fact, Dispatched)
    closer = program.nodes[fact.closer]
    # arrival of every signal, by region; the order taken must be the arrival order
    arrivals = []
    for r, port in enumerate(closer.inputs):
        arrivals += [(float(t), r) for t in times.arrival[port]]
    assert [r for _, r in sorted(arrivals)] == fact.order.tolist()
    # decision m (chunk regions + m) starts after free token m left free_signal
    fb = plans[d.id].feedback
    assert fb is not None and fb.source == closer.id
    token_ready = times.end[closer.id][fb.emit]
    assert (times.start[d.id][fb.take] >= token_ready).all()
    assert len(fb.take) == dp.N - 2
    # every item costs a cycle, every decision one more
    items = sum(len(c) for c in plans[d.id].cons)
    assert plans[d.id].cost.sum() == items + DECISION_CYCLES * (dp.N - 2)
    # the chunk went where the routing says: region r's data port carries its chunks
    per = len(d.inputs)
    for r in range(2):
        assert len(times.arrival[Port(d.id, r * per)]) == int((fact.region == r).sum())


def test_feedback_balances_skewed_work_but_never_beats_the_busiest_region() -> None:
    data = dp.inputs(SKEWED)
    dynamic = BACKEND.simulate(_program(), data, {}, TARGET).cycles
    static = BACKEND.simulate(_program(dp.round_robin), data, {}, TARGET).cycles
    # round-robin sends all four 16-unit requests to region 1 (64 units); first-free
    # splits them (35 units at most on either region)
    assert dynamic < 0.75 * static
    # a unit is one [1, 256] f32 row through the adder: 1024 B at 64 B/cycle = 16 cycles
    ctx, *_ = run_timed(_program(), data, {}, target_params(TARGET))
    fact = next(f for f in ctx.facts.values() if isinstance(f, Dispatched))
    busiest = max(data["work"][fact.region == r].sum() for r in range(2))
    assert dynamic >= 16 * busiest


def test_equal_work_routes_round_robin() -> None:
    ctx, *_ = run_timed(_program(), dp.inputs([4] * 8), {}, target_params(TARGET))
    fact = next(f for f in ctx.facts.values() if isinstance(f, Dispatched))
    assert fact.region.tolist() == [0, 1] * 4


def test_a_region_that_signals_once_per_unit_is_a_one_line_error() -> None:
    def per_unit(x, work):
        w, index = dp.requests(work, dp.N)
        parts = step.dispatch([w, index], 2)
        stores, signals = [], []
        for w_r, i_r in parts:
            i_a, i_b = step.copy(i_r)
            start = step.map(i_a, step.fn.affine_index(scale=1))
            rows = step.flat_map(step.map([start, w_r], "concat_cols"), step.fn.range(stride=0))
            rows, units = step.copy(rows)
            total = step.accum(step.random_offchip_load(x, rows, (1, dp.C)), "add", rank=1)
            stores.append(step.random_offchip_store(total, i_b, "y"))
            signals.append(step.flatten(units))  # one element per unit, not per request
        step.free_signal(signals, of=parts)
        return stores

    program = step.load_ir(step.trace(per_unit, dp.SIG))
    with pytest.raises(ExecutionError) as err:
        _execute(program, dp.inputs([2] * 8))
    msg = str(err.value)
    assert "\n" not in msg and "region 0 signalled" in msg and "one free signal per chunk" in msg
