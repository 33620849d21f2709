"""A plain event-driven simulator of the STeP timing model, for checking the fast path.

It commits one event at a time, always the enabled event that can start earliest (ties:
lower node id), exactly as the model in `interpreter/step/sim.py` states it: an event
starts when its op finished the previous one, its inputs were produced and its outputs
have channel space; an off-chip load's item appears when the HBM returns it; the HBM
serves requests in order of (issue time, node, event) and its data is usable from
the cycle after the transfer ends. Slow (quadratic), so only for small
graphs, and deliberately written without any of the fast path's array tricks.
"""

from __future__ import annotations

import math

from dsl.step.ir import Port, Program
from interpreter.step.costs import OpEvents as Plan


def reference_cycles(program: Program, plans: list[Plan], target: dict) -> float:
    depth, bw, lat = target["channel_depth"], target["offchip_bw"], target["offchip_latency"]
    nodes = program.nodes
    # item -> event maps, as lists
    cons_of = {n.id: [list(map(int, c)) for c in plans[n.id].cons] for n in nodes}
    prod_of = {n.id: [list(map(int, p)) for p in plans[n.id].prod] for n in nodes}
    # which items each event needs / emits
    needs = {n.id: [[] for _ in plans[n.id].cost] for n in nodes}
    emits = {n.id: [[] for _ in plans[n.id].cost] for n in nodes}
    for n in nodes:
        for i, cons in enumerate(cons_of[n.id]):
            for item, e in enumerate(cons):
                needs[n.id][e].append((n.inputs[i], item))
        for k, prod in enumerate(prod_of[n.id]):
            for item, e in enumerate(prod):
                emits[n.id][e].append((Port(n.id, k), item))
    produced: dict[tuple[Port, int], float] = {}
    dequeued: dict[tuple[Port, int], float] = {}
    requests: list[tuple[float, int, int, float]] = []  # (issue, node, event, bytes)
    next_event = {n.id: 0 for n in nodes}
    prev_end = {n.id: 0.0 for n in nodes}
    last_emit = {n.id: 0.0 for n in nodes}
    all_times: list[float] = []

    def hbm_back(key: tuple[float, int, int]) -> float:
        free = 0.0
        for issue, v, e, size in sorted(requests):
            free = max(issue, free) + size / bw
            if (issue, v, e) == key:
                return math.ceil(free) + lat  # usable from the next whole cycle
        raise AssertionError("request not found")

    def candidate(v: int) -> float | None:
        e = next_event[v]
        if e >= len(plans[v].cost):
            return None
        t = prev_end[v]
        for port, item in needs[v][e]:
            if (port, item) not in produced:
                return None
            t = max(t, produced[(port, item)])
        for port, item in emits[v][e]:
            if item >= depth:
                key = (port, item - depth)
                if key not in dequeued:
                    return None
                t = max(t, dequeued[key])
        return t

    total = sum(len(p.cost) for p in plans)
    for _ in range(total):
        best = None
        for n in nodes:
            c = candidate(n.id)
            if c is not None and (best is None or c < best[0]):
                best = (c, n.id)
        if best is None:
            raise RuntimeError("deadlock in the reference simulator")
        start, v = best
        plan = plans[v]
        e = next_event[v]
        end = start + float(plan.cost[e])
        for port, item in needs[v][e]:
            dequeued[(port, item)] = start
        emit = end
        if plan.requests is not None and plan.requests[e] > 0:
            issue = start if plan.is_load else end
            requests.append((issue, v, e, float(plan.requests[e])))
            if plan.is_load:
                emit = max(end, hbm_back((issue, v, e)))
        if plan.is_load:
            emit = max(emit, last_emit[v])
            last_emit[v] = emit
        for port, item in emits[v][e]:
            produced[(port, item)] = emit
            all_times.append(emit)
        prev_end[v] = end
        next_event[v] = e + 1
        all_times.append(end)
    for issue, v, e, _ in requests:
        if not plans[v].is_load:
            all_times.append(hbm_back((issue, v, e)))
    return max(all_times, default=0.0)


def ceil_cycles(t: float) -> int:
    return int(math.ceil(t))
