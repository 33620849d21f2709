"""Checking STeP event times against the one reference machine and a plain HBM queue.

STeP's schedule has two parts: the ops on bounded channels (solved by
`interpreter.core.channels`) and the shared HBM, a FIFO over every off-chip request.
`check_event_times` verifies both independently of how `event_times.py` found them:

1. the HBM: serving the requests one by one in order of their solved issue times (ties:
   node, then event), each size / offchip_bw cycles, data usable from the next whole
   cycle plus the latency, gives exactly the data times the schedule used;
2. the channels: the network with those data times as releases, run by the core's
   event-driven reference machine (`tests/interpreter/core/reference_sim.py`), gives the
   same start for every event of every op.

Together they say the schedule is the model's solution (both constraints hold, and the
machine that runs forward in time reaches it). Slow: small graphs only.
"""

from __future__ import annotations

import math

import numpy as np

from dsl.step.ir import Program
from interpreter.core.targets import StepTarget
from interpreter.step.costs import OpEvents
from interpreter.step.event_times import OpNetwork
from tests.interpreter.core.reference_sim import simulate


def plain_hbm(issue: list[tuple[float, int]], size: list[float], target: StepTarget) -> list[float]:
    """When each request's data is back: one request at a time, in order of (issue time,
    position), written as a loop on purpose."""
    back = [0.0] * len(issue)
    free = 0.0
    for t, j in sorted(issue):
        free = max(free, t) + size[j] / target.offchip_bw
        back[j] = math.ceil(free) + target.offchip_latency
    return back


def check_event_times(program: Program, plans: list[OpEvents], target: StepTarget) -> float:
    """Assert the fast schedule passes both checks (module doc); returns its cycles."""
    ops = OpNetwork(program, plans, target)
    times = ops.solve()
    issue, size, where = [], [], []
    for v in ops.offchip:
        plan = plans[v]
        for e in np.flatnonzero(plan.requests > 0).tolist():
            t = times.start[v][e] if plan.is_load else times.end[v][e]
            issue.append((float(t), len(issue)))
            size.append(float(plan.requests[e]))
            where.append((v, e))
    back = plain_hbm(issue, size, target)
    for v, d in ops.data_unit.items():
        release = np.zeros(len(plans[v].cost))
        for (w, e), b in zip(where, back, strict=True):
            if w == v:
                release[e] = b
        ops.net.set_release(d, release)
    reference = simulate(ops.net)
    for node in program.nodes:
        got, want = times.start[node.id], reference[ops.unit[node.id]]
        assert np.array_equal(got, want), f"{node.label()}: starts {got} != reference {want}"
    stores = [b for (v, _), b in zip(where, back, strict=True) if not plans[v].is_load]
    assert times.stores_done == max(stores, default=0.0)
    return times.cycles
