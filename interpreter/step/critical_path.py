"""The critical path of a timed STeP run: which chain of events set the cycle count, and
which resource each of its cycles waited for.

The walk starts at whatever finished last and goes backwards. At every event it asks why
the event started when it did: its op was still busy with the previous event (the op's
own work, charged to the term that set that event's cost: compute, on-chip bandwidth, or
one element per cycle), an input arrived then (go to the producing event; an off-chip
load's tile waited for the HBM: transfer and queueing, plus its fixed latency), or the
channel to a consumer was full (go to the consumer's event that made room: a queue
stall). Cycles are summed per (op, resource); the largest sum is what to attack, because
only shortening the critical path lowers the cycle count — an op can be busy most of the
run and still not be on it.

A dispatch decision that waited for its free token (`costs.Feedback`, the channel against
program order) goes on through free_signal into the region whose signal it was: the wait is
that region's work, so its cycles are charged to the region's ops as any other. The walk
also notes them per region (`CriticalPath.free_waits`, until it is back at the dispatcher),
because the change that shortens them is the dispatcher's (more regions, finer requests)
as much as the region body's. (The feedback channel being full never holds the path: a
token free_signal could not send until decision m - depth started arrives one cycle
later, before decision m, which comes at least two cycles after decision m - depth.)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from dsl.step.ir import Program
from interpreter.core.targets import StepTarget
from interpreter.step.costs import BW_IN, BW_OUT, COMPUTE, ISSUE, OpEvents
from interpreter.step.event_times import EventTimes

# the resources a critical-path cycle can wait for
ONE_PER_CYCLE, HBM, LATENCY = "one element per cycle", "HBM bandwidth", "HBM latency"
RESOURCES = {
    COMPUTE: "compute",
    BW_IN: "on-chip bandwidth",
    BW_OUT: "on-chip bandwidth",
    ISSUE: ONE_PER_CYCLE,
}
MAX_HOPS = 20_000  # a walk longer than this stops; what it covered is still reported
EPS = 1e-6


@dataclass
class CriticalPath:
    """Cycles of the critical path per (node id, resource), the number of full-channel
    waits crossed per (producer, consumer) node pair, and the path's parts in time order
    (node id, resource, cycles; consecutive parts of one op and resource merged)."""

    cycles: float
    share: dict[tuple[int, str], float] = field(default_factory=dict)
    stalls: dict[tuple[int, int], int] = field(default_factory=dict)
    hops: list[tuple[int, str, float]] = field(default_factory=list)
    # cycles spent in a region while a dispatch waited for its free signal, per
    # (dispatch node, region, node, resource)
    free_waits: dict[tuple[int, int, int, str], float] = field(default_factory=dict)

    def by_resource(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for (_, res), c in self.share.items():
            out[res] += c
        return dict(out)

    def top(self, resource: str) -> int | None:
        """The node with most critical cycles waiting for `resource`."""
        nodes = [(c, v) for (v, r), c in self.share.items() if r == resource]
        return max(nodes)[1] if nodes else None

    def free_regions(self) -> dict[tuple[int, int], float]:
        """Cycles the path waits for a free region, per (dispatch node, region)."""
        out: dict[tuple[int, int], float] = defaultdict(float)
        for (d, r, _, _), c in self.free_waits.items():
            out[(d, r)] += c
        return dict(out)


class _Walk:
    def __init__(
        self, program: Program, plans: list[OpEvents], times: EventTimes, target: StepTarget
    ) -> None:
        self.program, self.plans, self.times = program, plans, times
        self.depth = target.channel_depth
        self.latency = target.offchip_latency
        self.path = CriticalPath(cycles=times.cycles)
        self.readers: dict[tuple[int, int], tuple[int, int]] = {}
        for node in program.nodes:
            for pos, p in enumerate(node.inputs):
                self.readers[(p.node, p.index)] = (node.id, pos)
        self.runs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.by_event: dict[tuple[int, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.waiting: tuple[int, int] | None = None  # (dispatch, region) the path is in

    def busy_runs(self, v: int) -> tuple[np.ndarray, np.ndarray]:
        """Node v's first event of the back-to-back run ending at each event, and running
        sums of its event costs per bound term (computed for the nodes the path visits)."""
        if v not in self.runs:
            plan, start, end = self.plans[v], self.times.start[v], self.times.end[v]
            n = len(plan.cost)
            chained = np.zeros(n, bool)
            chained[1:] = np.abs(start[1:] - end[:-1]) <= EPS
            first = np.maximum.accumulate(np.where(chained, 0, np.arange(n)))
            bound = plan.bound if plan.bound is not None else np.zeros(n, int)
            sums = np.zeros((4, n + 1))
            for b in range(4):
                sums[b, 1:] = np.cumsum(np.where(bound == b, plan.cost, 0.0))
            self.runs[v] = first, sums
        return self.runs[v]

    def items_at(self, v: int, side: str, e: int) -> list[tuple[int, np.ndarray]]:
        """(port, its items) for each of node v's input (`side` "cons") or output ("prod")
        ports with items at event e, in port order, items ascending. Indexed once per node
        the path visits: a reassemble has an input, a partition an output per expert (128
        for Qwen), and the walk asks about one event at a time."""
        key = (v, side)
        if key not in self.by_event:
            arrays = getattr(self.plans[v], side)
            ev = np.concatenate([*arrays, np.zeros(0, np.int64)])
            port = np.repeat(np.arange(len(arrays)), [len(a) for a in arrays])
            item = np.concatenate([np.arange(len(a)) for a in arrays] + [np.zeros(0, np.int64)])
            order = np.argsort(ev, kind="stable")  # keeps port, then item order per event
            self.by_event[key] = ev[order], port[order], item[order]
        ev, port, item = self.by_event[key]
        lo, hi = np.searchsorted(ev, e, "left"), np.searchsorted(ev, e, "right")
        if lo == hi:
            return []
        port, item = port[lo:hi], item[lo:hi]
        cuts = np.flatnonzero(port[1:] != port[:-1]) + 1
        return list(zip(port[np.r_[0, cuts]].tolist(), np.split(item, cuts), strict=True))

    def add(self, v: int, resource: str, cycles: float) -> None:
        if cycles <= EPS:
            return
        key = (v, resource)
        self.path.share[key] = self.path.share.get(key, 0.0) + cycles
        if self.waiting is not None:
            wait = (*self.waiting, v, resource)
            self.path.free_waits[wait] = self.path.free_waits.get(wait, 0.0) + cycles
        hops = self.path.hops
        if hops and hops[-1][:2] == key:
            hops[-1] = (v, resource, hops[-1][2] + cycles)
        else:
            hops.append((v, resource, cycles))

    def run(self) -> CriticalPath:
        v, e = self._last()
        if v is None:
            return self.path
        at_end = True
        for _ in range(MAX_HOPS):
            if at_end:  # the op's own work back to the start of its busy run
                firsts, sums = self.busy_runs(v)
                first = int(firsts[e])
                for b, res in RESOURCES.items():
                    self.add(v, res, float(sums[b, e + 1] - sums[b, first]))
                e = first
            nxt = self._why(v, e)
            if nxt is None:
                break
            v, e, at_end = nxt
            if self.waiting is not None and v == self.waiting[0]:
                self.waiting = None  # back at the dispatcher that waited
        self.path.hops.reverse()
        return self.path

    def _last(self) -> tuple[int | None, int]:
        """The event that finished last (a store's last write counts as the store's)."""
        ends = [(float(t[-1]), v) for v, t in enumerate(self.times.end) if len(t)]
        if not ends:
            return None, 0
        end, v = max(ends)
        done = self.times.stores_done
        if done > end + EPS:
            stores = [
                (float(self.times.end[u][-1]), u)
                for u, p in enumerate(self.plans)
                if p.requests is not None and not p.is_load and len(p.cost)
            ]
            if stores:
                end, v = max(stores)
                self.add(v, HBM, done - end)
        return v, len(self.times.end[v]) - 1

    def _why(self, v: int, e: int) -> tuple[int, int, bool] | None:
        """What event e of node v waited for last: (node, event, continue at its end?),
        charging the wait itself; None when nothing did (the start of the run)."""
        start = float(self.times.start[v][e])
        if start <= EPS:
            return None
        node, plan = self.program.nodes[v], self.plans[v]
        best: tuple[float, tuple[int, int, bool], list] | None = None
        for pos, items in self.items_at(v, "cons", e):
            port = node.inputs[pos]
            arrival = self.times.arrival[port][items]
            k = int(items[np.argmax(arrival)])
            t = float(arrival.max())
            if best is not None and t <= best[0] + EPS:
                continue
            src = self.plans[port.node]
            pe = int(src.prod[port.index][k])
            charges = []
            if src.is_load:  # the tile came back from the HBM: charge the wait, go to issue
                wait = t - float(self.times.start[port.node][pe])
                lat = min(self.latency, wait)
                charges = [(port.node, LATENCY, lat), (port.node, HBM, wait - lat)]
            best = (t, (port.node, pe, not src.is_load), charges)
        fb = plan.feedback
        if fb is not None:  # a decision waits for its free token, sent when a region is free
            m = np.flatnonzero(fb.take == e)
            if len(m):
                pe = int(fb.emit[m[0]])
                t = float(self.times.end[fb.source][pe])
                if best is None or t > best[0] + EPS:
                    best = (t, (fb.source, pe, True), [("free", v, self._region(fb.source, pe))])
        for o, items in self.items_at(v, "prod", e):
            reader = self.readers.get((v, o))
            if reader is None:
                continue
            items = items[items >= self.depth]
            if not len(items):
                continue
            w, pos = reader
            taking = self.plans[w].cons[pos][items - self.depth]
            t_all = self.times.start[w][taking]
            i = int(np.argmax(t_all))
            t = float(t_all[i])
            if best is None or t > best[0] + EPS:
                best = (t, (w, int(taking[i]), False), [("stall", v, w)])
        if best is None or best[0] < start - EPS:  # nothing outside held it: its own work
            return None if e == 0 else (v, e - 1, True)
        for charge in best[2]:
            if charge[0] == "stall":
                key = (charge[1], charge[2])
                self.path.stalls[key] = self.path.stalls.get(key, 0) + 1
            elif charge[0] == "free":
                self.waiting = (charge[1], charge[2])
            else:
                self.add(*charge)
        return best[1]

    def _region(self, closer: int, e: int) -> int:
        """The region whose signal free_signal's event e takes (its inputs are in region
        order)."""
        cons = self.plans[closer].cons
        return next(r for r, c in enumerate(cons) if len(_items_of(c, e)))


def _items_of(event_of_item: np.ndarray, e: int) -> np.ndarray:
    """The items handled by event e (`event_of_item` is non-decreasing)."""
    if len(event_of_item) > 1 and event_of_item[-1] < event_of_item[0]:
        return np.flatnonzero(event_of_item == e)
    lo = np.searchsorted(event_of_item, e, "left")
    hi = np.searchsorted(event_of_item, e, "right")
    found = np.arange(lo, hi)
    if len(found) and not np.all(event_of_item[found] == e):  # not sorted after all
        return np.flatnonzero(event_of_item == e)
    return found


def critical_path(
    program: Program, plans: list[OpEvents], times: EventTimes, target: StepTarget
) -> CriticalPath:
    """The critical path of a timed run (`target`: its timing parameters)."""
    return _Walk(program, plans, times, target).run()


def free_region_sentence(
    program: Program, plans: list[OpEvents], path: CriticalPath, span: int
) -> str:
    """One sentence on the path's waits for a free region (empty when it has none): the
    region waited for most, its op and resource that took most of the wait, and the changes
    the program can make: more regions (requests queued for one), fewer rows per request
    when a request holds several, a cheaper region body."""
    waits = path.free_regions()
    if not waits:
        return ""
    (d, r), _ = max(waits.items(), key=lambda kv: (kv[1], kv[0]))
    mine = {k: c for k, c in path.free_waits.items() if k[:2] == (d, r)}
    _, _, v, resource = max(mine, key=lambda k: (mine[k], k))
    dispatch, plan = program.nodes[d], plans[d]
    regions = dispatch.attrs["num_consumers"]
    chunks = regions + len(plan.feedback.take)  # a wait means requests queued for a region
    finer = ", fewer rows per request" if dispatch.attrs["rank"] > 0 else ""  # rank 0: one each
    total = sum(waits.values())
    return (
        f"{total / span:.0%} of the path waits for a free region: region {r}'s "
        f"{program.nodes[v].label()} {resource} most ({mine[(d, r, v, resource)] / span:.0%}); "
        f"more regions ({dispatch.label()} has {regions} for {chunks} requests){finer} "
        "or a cheaper region body shortens it. "
    )
