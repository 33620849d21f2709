"""The cycle simulator: when does every event of every op happen?

Each op is a unit with its own clock that runs its events (from `timing.py`) in order:

    start[e] = max(end[e-1], inputs of e available, space for the outputs of e)
    end[e]   = start[e] + cost[e]

An item is available to its consumer when the producing event ends (an off-chip load's
tile when the HBM returns it); a channel holds `channel_depth` items, so the event that
emits item k waits until the consumer dequeued (started the event consuming) item
k - depth. The HBM is one shared server: requests, in order of issue (ties: node, then
event), take bytes / offchip_bw cycles each; the data is usable from the next whole cycle
plus `offchip_latency` (reads issue when the load event starts, writes when the store
event ends).

Solved with arrays, not a cycle loop: with C the running sum of costs, the recurrence is
`end = C + max(0, cummax(ready - (C - cost)))` per op. Backpressure and the shared HBM
couple ops both ways, so forward (topological) and backward sweeps alternate, each op
recomputed from the latest times of its neighbours (only ops with something new to read),
until nothing changes; then the HBM serves the requests again, and so on until neither
moves. Between HBM passes a load's data is taken as the later of its last served time and
its own issue + transfer + latency (a lower bound, exact at the fixpoint). The first settle
ignores channel bounds (quick, and a lower bound of the real schedule); the second adds
them. The fixpoint is the schedule an event-driven
simulation produces (a reference one in the tests must agree to the cycle). A deadlock is
found before timing by counting which events can ever fire.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque

import numpy as np

from dsl.step.ir import Port, Program
from interpreter.errors import ExecutionError, SimulationError
from interpreter.report import SimReport
from interpreter.step.budget import check_static
from interpreter.step.run import run_functional
from interpreter.step.semantics import RunContext
from interpreter.step.streams import StreamData
from interpreter.step.timing import TIMING, Plan, TimingEnv

DEFAULT_TARGET = {
    "onchip_bw": 64,
    "flops_per_unit": 512,
    "offchip_bw": 1024,
    "offchip_latency": 20,
    "channel_depth": 8,
}
MAX_SWEEPS = 20_000
MAX_MERGE_ROUNDS = 8


def target_params(target: dict) -> dict:
    """The target's timing parameters (defaults for missing keys), checked. Its budget
    (`[budget]`) is read by `interpreter/step/budget.py`."""
    out = dict(DEFAULT_TARGET)
    out.update({k: v for k, v in target.items() if k in DEFAULT_TARGET})
    for k, v in out.items():
        if not isinstance(v, int | float) or isinstance(v, bool) or v <= 0:
            raise SimulationError(
                f"target {target.get('name', '?')}: {k} must be a positive number, got {v!r}"
            )
    out["channel_depth"] = int(out["channel_depth"])
    return out


def build_plans(
    program: Program, ctx: RunContext, streams: dict[Port, StreamData], target: dict
) -> list[Plan]:
    plans = []
    for node in program.nodes:
        ins = [streams[p] for p in node.inputs]
        outs = [streams[Port(node.id, i)] for i in range(len(node.outputs))]
        in_types = [program.node(p.node).outputs[p.index] for p in node.inputs]
        env = TimingEnv(node, ins, outs, in_types, target, ctx.provenance.get(node.id, {}))
        plans.append(TIMING[node.op](env))
    return plans


class Schedule:
    """Event times of every op, found by alternating sweeps (see module doc)."""

    def __init__(self, program: Program, plans: list[Plan], target: dict) -> None:
        self.program, self.plans, self.t = program, plans, target
        self.depth = target["channel_depth"]
        self.consumer = {p: (n.id, k) for n in program.nodes for k, p in enumerate(n.inputs)}
        n = len(plans)
        self.csum = [np.cumsum(p.cost) for p in plans]
        self.start = [np.zeros(len(p.cost)) for p in plans]
        self.end = [c.copy() for c in self.csum]
        self.hbm = [None] * n  # per off-chip op: when each request's data is back
        # every port gets an int id; per port: when each item is emitted and dequeued
        self.port_id = {
            Port(node.id, k): i
            for i, (node, k) in enumerate(
                (node, k)
                for node, p in zip(program.nodes, plans, strict=True)
                for k in range(len(p.prod))
            )
        }
        self.out_time = [np.zeros(0)] * len(self.port_id)
        self.deq = [np.zeros(0)] * len(self.port_id)
        for node, plan in zip(program.nodes, plans, strict=True):
            for k, prod in enumerate(plan.prod):
                self.out_time[self.port_id[Port(node.id, k)]] = np.zeros(len(prod))
                self.deq[self.port_id[Port(node.id, k)]] = np.zeros(len(prod))
        self.sweeps = 0
        # off-chip requests, in (node, event) order: the HBM's tie-break after issue time
        self.offchip = [v for v, p in enumerate(plans) if p.requests is not None]
        self.req_index = {v: np.flatnonzero(plans[v].requests > 0) for v in self.offchip}
        sizes = [plans[v].requests[self.req_index[v]] for v in self.offchip]
        self.req_size = np.concatenate(sizes) if sizes else np.zeros(0)
        self.req_rank = np.arange(len(self.req_size))
        self.req_offsets = np.cumsum([0] + [len(x) for x in sizes])
        self.dirty = set(range(n))
        self.unseen = set(range(n))  # ops not computed yet (their zeros are placeholders)
        self.hbm_dirty = False
        # per load: the least time from issue to usable data (0 for bare stops)
        self.fresh = [
            np.where(
                p.requests > 0,
                np.ceil(p.requests / target["offchip_bw"]) + target["offchip_latency"],
                0.0,
            )
            if p.is_load
            else None
            for p in plans
        ]
        # per op: (producer port, consuming events) and (port, producing events, consumer)
        # (an index array that is exactly 0..events-1 becomes None: no gather needed)
        self.in_edges = [
            [
                (self.port_id[p], _gather(c, len(plan.cost)), p.node)
                for p, c in zip(node.inputs, plan.cons, strict=True)
                if len(c)
            ]
            for node, plan in zip(program.nodes, plans, strict=True)
        ]
        self.out_edges = [
            [
                (
                    self.port_id[Port(node.id, k)],
                    prod,
                    _gather(prod, len(plan.cost)),
                    self.consumer[Port(node.id, k)][0],
                )
                for k, prod in enumerate(plan.prod)
            ]
            for node, plan in zip(program.nodes, plans, strict=True)
        ]

    def emitted(self, port: Port) -> np.ndarray:
        """When each item of `port` enters its channel."""
        return self.out_time[self.port_id[port]]

    def update(self, v: int) -> None:
        """Recompute op v's events from its neighbours' latest times; mark who must
        look again (consumers of changed outputs, producers of changed dequeues)."""
        plan = self.plans[v]
        cost, csum = plan.cost, self.csum[v]
        if not len(cost):
            return
        ready = np.zeros(len(cost))
        for p, cons, _ in self.in_edges[v]:
            if cons is None:
                np.maximum(ready, self.out_time[p], out=ready)
            else:  # times are monotone: of several items per event, the last counts
                ready[cons] = np.maximum(ready[cons], self.out_time[p])
        depth = self.depth
        for port, prod, _, _ in self.out_edges[v]:
            if len(prod) > depth:
                tail = prod[depth:]
                ready[tail] = np.maximum(ready[tail], self.deq[port][:-depth])
        end = csum + np.maximum(0.0, np.maximum.accumulate(ready - (csum - cost)))
        start = end - cost
        moved = v in self.unseen or not _same(start, self.start[v])
        self.unseen.discard(v)
        if plan.requests is not None and moved:
            self.hbm_dirty = True
        self.start[v], self.end[v] = start, end
        if plan.is_load:
            # the served time from the last HBM pass, or later if this load now issues
            # later: never before its own transfer and latency (exact once settled)
            soonest = np.where(self.fresh[v] > 0, start + self.fresh[v], 0.0)
            emit = np.maximum.accumulate(np.maximum(end, np.maximum(self.hbm[v], soonest)))
        elif not moved:
            return  # same start and cost: same end, emits and dequeues as before
        else:
            emit = end
        for port, _, prod, w in self.out_edges[v]:
            new = emit if prod is None else emit[prod]
            if not _same(new, self.out_time[port]):
                self.out_time[port] = new
                self.dirty.add(w)
        if moved:
            for p, cons, u in self.in_edges[v]:
                new = start if cons is None else start[cons]
                if not _same(new, self.deq[p]):
                    self.deq[p] = new
                    self.dirty.add(u)

    def serve_hbm(self) -> np.ndarray:
        """Run every off-chip request through the shared HBM; returns store completions."""
        if not self.offchip:
            return np.zeros(0)
        issue = np.concatenate(
            [
                (self.start[v] if self.plans[v].is_load else self.end[v])[self.req_index[v]]
                for v in self.offchip
            ]
        )
        order = np.lexsort((self.req_rank, issue))
        service = self.req_size[order] / self.t["offchip_bw"]
        s = np.cumsum(service)
        done = s + np.maximum(0.0, np.maximum.accumulate(issue[order] - (s - service)))
        back = np.empty_like(done)
        # data is usable from the cycle after the transfer ends: times stay integers
        back[order] = np.ceil(done) + self.t["offchip_latency"]
        stores = []
        for v, lo, hi in zip(
            self.offchip, self.req_offsets[:-1], self.req_offsets[1:], strict=True
        ):
            plan = self.plans[v]
            if plan.is_load:
                new = np.zeros(len(plan.cost))  # a bare stop follows the previous tile
                new[self.req_index[v]] = back[lo:hi]
                if self.hbm[v] is None or not np.array_equal(new, self.hbm[v]):
                    self.hbm[v] = new
                    self.dirty.add(v)
            else:
                stores.append(back[lo:hi])
        return np.concatenate(stores) if stores else np.zeros(0)

    def solve(self) -> float:
        """Sweep forward and backward over the ops that have something new to read (a
        neighbour's or the HBM's times changed) until none has: the fixpoint."""
        order = list(range(len(self.plans)))
        depth, self.depth = self.depth, 1 << 62
        self._settle(order)  # without backpressure first: a close lower bound, found fast
        self.depth = depth
        self.dirty = set(order)
        return self._finish(self._settle(order))

    def _settle(self, order: list[int]) -> np.ndarray:
        stores = self.serve_hbm()
        while self.dirty:
            while self.dirty:  # settle the ops against the HBM's last answers...
                if self.sweeps >= MAX_SWEEPS:
                    raise SimulationError(f"timing did not settle after {MAX_SWEEPS} sweeps")
                for v in order if self.sweeps % 2 == 0 else order[::-1]:
                    if v in self.dirty:
                        self.dirty.discard(v)
                        self.update(v)
                self.sweeps += 1
            if self.hbm_dirty:  # ...then serve their requests again
                self.hbm_dirty = False
                stores = self.serve_hbm()
        return stores

    def _finish(self, stores: np.ndarray) -> float:
        last = [float(e[-1]) for e in self.end if len(e)]
        last += [float(t.max()) for t in self.out_time if len(t)]
        last += [float(stores.max())] if len(stores) else []
        return max(last, default=0.0)


def _gather(index: np.ndarray, n_events: int) -> np.ndarray | None:
    """`index`, or None when it is the identity 0..n_events-1 (one item per event)."""
    if len(index) == n_events and (
        n_events == 0
        or (index[0] == 0 and index[-1] == n_events - 1 and (np.diff(index) == 1).all())
    ):
        return None
    return index


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool((a == b).all())


def check_deadlock(program: Program, plans: list[Plan], depth: int) -> None:
    """Count how many events of each op can ever fire with bounded channels; if some op
    cannot finish, raise an ExecutionError naming the full channel that blocks it."""
    n = len(plans)
    fired = [0] * n
    consumer = {p: (node.id, k) for node in program.nodes for k, p in enumerate(node.inputs)}
    # per op: (producer, its producing events, our consuming events) for every input, and
    # (consumer, our producing events, its consuming events) for every output, as lists
    ins: list[list[tuple[int, list, list]]] = [[] for _ in range(n)]
    outs: list[list[tuple[int, list, list]]] = [[] for _ in range(n)]
    for node, plan in zip(program.nodes, plans, strict=True):
        for k, prod in enumerate(plan.prod):
            w, pos = consumer[Port(node.id, k)]
            edge_prod, edge_cons = prod.tolist(), plans[w].cons[pos].tolist()
            outs[node.id].append((w, edge_prod, edge_cons))
            ins[w].append((node.id, edge_prod, edge_cons))
    size = [len(p.cost) for p in plans]

    def firing_limit(v: int) -> tuple[int, int | None, int | None]:
        """How many events of v can fire now, and what stops it: (limit, producer it
        waits for, consumer whose channel is full)."""
        limit, waits, full = size[v], None, None
        for u, prod, cons in ins[v]:
            have = bisect_left(prod, fired[u])
            if have < len(cons) and cons[have] < limit:
                limit, waits, full = cons[have], u, None
        for w, prod, cons in outs[v]:
            taken = bisect_left(cons, fired[w])
            if taken + depth < len(prod) and prod[taken + depth] < limit:
                limit, waits, full = prod[taken + depth], None, w
        return limit, waits, full

    queue = deque(range(n))
    queued = set(queue)
    while queue:
        v = queue.popleft()
        queued.discard(v)
        limit = firing_limit(v)[0]
        if limit > fired[v]:
            fired[v] = limit
            for w, _, _ in ins[v] + outs[v]:
                if w not in queued:
                    queued.add(w)
                    queue.append(w)
    stuck = [v for v in range(n) if fired[v] < size[v]]
    if not stuck:
        return
    reasons = {v: firing_limit(v)[1:] for v in stuck}
    waits = {v: r[0] for v, r in reasons.items() if r[0] is not None}
    full = {v: r[1] for v, r in reasons.items() if r[1] is not None}
    # the root: a full channel whose consumer itself waits for some other input
    roots = [v for v in stuck if v in full and full[v] in waits] or [v for v in stuck if v in full]
    if not roots:
        raise ExecutionError(f"deadlock: {program.node(stuck[0]).label()} never finishes")
    v = roots[0]
    w = full[v]
    waited = program.node(waits[w]).label() if w in waits else "elsewhere"
    raise ExecutionError(
        f"deadlock: {program.node(v).label()} cannot emit: its channel to "
        f"{program.node(w).label()} is full ({depth} items) while that op waits for input "
        f"from {waited}; load the data twice instead of copying it, bufferize it, or use "
        f"a target with deeper channels"
    )


def merge_arrivals(program: Program, ctx: RunContext, sched: Schedule) -> dict[int, np.ndarray]:
    """For every eager_merge, its chunk order by arrival of each chunk's first item."""
    orders = {}
    for node in program.nodes:
        if node.op != "eager_merge":
            continue
        chunked = ctx.provenance[node.id]["chunk_items"]
        keys = []
        for i, (p, (items, _)) in enumerate(zip(node.inputs, chunked, strict=True)):
            avail = sched.emitted(p)
            for c, (first, _) in enumerate(items):
                keys.append((float(avail[first]) if len(avail) else 0.0, c, i))
        keys.sort(key=lambda k: (k[0], k[2], k[1]))
        orders[node.id] = np.array([i for _, _, i in keys], dtype=np.int64)
    return orders


def run_timed(
    program: Program, inputs: dict[str, np.ndarray], dims: dict[str, int], target: dict
) -> tuple[RunContext, dict[Port, StreamData], list[Plan], Schedule, float]:
    """Functional pass + timing, repeated while eager_merge arrival orders change."""
    params = target_params(target)
    orders: dict[int, np.ndarray] | None = None
    has_merge = any(n.op == "eager_merge" for n in program.nodes)
    for _ in range(MAX_MERGE_ROUNDS if has_merge else 1):
        ctx, streams = run_functional(program, inputs, dims, orders, keep=True)
        plans = build_plans(program, ctx, streams, params)
        check_deadlock(program, plans, params["channel_depth"])
        sched = Schedule(program, plans, params)
        cycles = sched.solve()
        if not has_merge:
            break
        new = merge_arrivals(program, ctx, sched)
        if orders is not None and all(np.array_equal(new[k], orders[k]) for k in new):
            break
        orders = new
    return ctx, streams, plans, sched, cycles


def merge_orders(
    program: Program, inputs: dict[str, np.ndarray], dims: dict[str, int], target: dict
) -> dict[int, np.ndarray]:
    """Arrival orders of the eager_merges on `target` (used by `execute`: what an
    eager_merge emits depends on timing, so the functional run needs the hardware model)."""
    ctx, _, _, _, _ = run_timed(program, inputs, dims, target)
    return {k: v for k, v in ctx.merge_order.items()}


def simulate(
    program: Program, inputs: dict[str, np.ndarray], dims: dict[str, int], target: dict
) -> SimReport:
    from interpreter.step.accounting import make_report

    used = check_static(program, target)
    ctx, streams, plans, sched, cycles = run_timed(program, inputs, dims, target)
    return make_report(program, plans, sched, cycles, target, used)
