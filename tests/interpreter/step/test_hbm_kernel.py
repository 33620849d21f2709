"""The HBM's rounds (`interpreter/step/hbm_kernel.py`), plain and compiled: the same
schedule to the bit, and the one the reference machine and a plain FIFO give."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import step
from interpreter.step import BACKEND, event_times
from interpreter.step.hbm_kernel import SERVE_ROUND
from interpreter.step.sim import op_events, run_functional, target_params
from tests.interpreter.step import programs
from tests.interpreter.step.schedule_check import check_event_times

TARGET = {
    "onchip_bw": 16,
    "flops_per_unit": 512,
    "offchip_bw": 64,
    "offchip_latency": 10,
    "channel_depth": 2,
}


class _Forced:
    """SERVE_ROUND with `pick` always giving the plain or the compiled loop."""

    def __init__(self, compiled: bool) -> None:
        self.compiled = compiled

    def pick(self, size: int):
        return SERVE_ROUND.compiled() if self.compiled else SERVE_ROUND.plain


@contextmanager
def _serving(compiled: bool):
    saved = event_times.SERVE_ROUND
    event_times.SERVE_ROUND = _Forced(compiled)
    try:
        yield
    finally:
        event_times.SERVE_ROUND = saved


@settings(max_examples=6, deadline=None)
@given(
    b=st.integers(1, 12),
    chunk=st.sampled_from([0, 2]),
    depth=st.sampled_from([1, 3]),
    bw=st.sampled_from([3, 64]),
    seed=st.integers(0, 99),
)
def test_plain_and_compiled_rounds_give_the_reference_schedule(
    b: int, chunk: int, depth: int, bw: int, seed: int
) -> None:
    """A MoE layer (many loads, one store, requests of several sizes; at 3 B/cycle service
    times are not whole cycles): both loops give the same starts, data times and rounds,
    and the plain one passes the reference checks."""
    rng = np.random.default_rng(seed)
    e, h, f = 3, 8, 16
    inputs = programs.moe_inputs(rng, b, e, h, f)
    sig = programs.moe_signature(e, h, f, 1, tile_f=8, chunk=chunk)
    program = BACKEND.load(step.trace(programs.moe, sig))
    params = target_params(dict(TARGET, channel_depth=depth, offchip_bw=bw))
    ctx, streams = run_functional(program, inputs, {"B": b}, keep=True)
    plans = op_events(program, ctx, streams, params)
    solved = []
    for compiled in (False, True):
        with _serving(compiled):
            solved.append(event_times.OpNetwork(program, plans, params).solve())
            if not compiled:
                assert check_event_times(program, plans, params) == solved[0].cycles
    plain, fast = solved
    assert plain.hbm_rounds == fast.hbm_rounds > 1
    assert plain.stores_done == fast.stores_done
    for a, c in zip(plain.start, fast.start, strict=True):
        assert np.array_equal(a, c)
    for port, t in plain.arrival.items():
        assert np.array_equal(t, fast.arrival[port])
