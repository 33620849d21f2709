"""Adversarial programs against dispatch / free_signal: the feedback loop cannot skip work,
hide time or move results.

- Signalling "free" the moment a request arrives (before any work) makes the dispatcher
  send more work to the same region; the work is still done there and timed there: the
  cycles never drop below the busiest region's own work, and the values stay exact.
- A region that drops its requests and only signals leaves their rows unwritten (the
  verifier's poisoned outputs show it).
- A signal made from another region's work, or from no region's work, is refused before
  any run; so is an IR whose free_signal names a node that is not a dispatch.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from dsl import step
from dsl.errors import ProgramError, ValidationError
from interpreter.step import BACKEND
from interpreter.step.dispatch import Dispatched
from interpreter.step.sim import run_timed, target_params
from interpreter.targets import load_target
from tests.interpreter.step import dispatch_programs as dp

TARGET = load_target("step_default")
WORK = [1, 16, 1, 16, 1, 16, 1, 16]
UNIT_CYCLES = 16  # one [1, 256] f32 row through the adder at 64 B/cycle


def _build(kernel, **params):
    return step.load_ir(step.trace(kernel, dict(dp.SIG, params=params)))


def test_signalling_before_working_still_pays_for_the_work() -> None:
    program = _build(dp.dynamic, signal_from="arrival")
    data = dp.inputs(WORK)
    out = {"y": np.full((dp.N, dp.C), np.nan, np.float32)}
    BACKEND.execute(program, data, out, {}, TARGET)
    np.testing.assert_allclose(out["y"], data["work"][:, None] * data["x"], rtol=1e-5, atol=1e-5)
    cycles = BACKEND.simulate(program, data, {}, TARGET).cycles
    ctx, *_ = run_timed(program, data, {}, target_params(TARGET))
    fact = next(f for f in ctx.facts.values() if isinstance(f, Dispatched))
    busiest = max(int(data["work"][fact.region == r].sum()) for r in range(2))
    assert cycles >= UNIT_CYCLES * busiest
    assert cycles >= UNIT_CYCLES * sum(WORK) / 2  # two regions cannot do better than half


def test_a_region_that_drops_its_requests_leaves_rows_unwritten() -> None:
    def lazy(x, work):
        w, index = dp.requests(work, dp.N)
        parts = step.dispatch([w, index], 2)
        stores, signals = [], []
        for r, (w_r, i_r) in enumerate(parts):
            if r == 0:
                store, free = dp.region(x, w_r, i_r)
                stores.append(store)
            else:  # region 1 says "free" at once and does nothing
                step.sink(w_r)
                free = i_r
            signals.append(free)
        step.free_signal(signals, of=parts)
        return stores

    program = _build(lazy)
    data = dp.inputs(WORK)
    out = {"y": np.full((dp.N, dp.C), np.nan, np.float32)}
    BACKEND.execute(program, data, out, {}, TARGET)
    assert np.isnan(out["y"]).any()  # the rows sent to region 1 were never written


def test_a_signal_from_no_regions_work_is_refused() -> None:
    def detached(x, work):
        w, index = dp.requests(work, dp.N)
        parts = step.dispatch([w, index], 2)
        stores = []
        for w_r, i_r in parts:
            store, free = dp.region(x, w_r, i_r)
            step.sink(free)
            stores.append(store)
        clock, _ = dp.requests(work, dp.N)  # a stream that has nothing to do with the regions
        a, b = step.copy(clock)
        step.free_signal([a, b], of=parts)
        return stores

    with pytest.raises(ProgramError) as err:
        step.trace(detached, dp.SIG)
    assert "is not computed from" in str(err.value)


def test_a_tampered_free_signal_is_refused() -> None:
    ir = copy.deepcopy(step.trace(dp.dynamic, dp.SIG))
    fs = next(n for n in ir["nodes"] if n["op"] == "free_signal")
    d = next(n for n in ir["nodes"] if n["op"] == "dispatch")
    fs["attrs"]["dispatch"] = d["id"] - 1
    with pytest.raises(ValidationError):
        step.load_ir(ir)
    d["attrs"]["num_consumers"] = 3  # a region the signals do not cover
    fs["attrs"]["dispatch"] = d["id"]
    with pytest.raises(ValidationError):
        step.load_ir(ir)
