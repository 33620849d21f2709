"""The critical path of a timed SAM program: the chain of steps that set the cycle count,
and which resource each of its cycles waited for.

The graphs of a program run one after the other, so the program's path is the graphs'
paths in sequence. In a graph the walk starts at the step that ended last and asks, at
every step, why it started when it did (the solver's rule, `interpreter.core.channels`):
- the primitive was still busy with its previous step ("primitive steps": its own work,
  II cycles a step; a back-to-back run is crossed in one jump);
- a token it takes arrived then ("token latency": the producer's latency, the walk moves
  to the producing step; a step that moves memory words also waits for the round trip,
  "HBM latency");
- its words were not through the HBM channels yet ("HBM bandwidth", the release time;
  the walk ends there, as it does when the graph's words on the shared channels outlast
  every step);
- a FIFO it emits into was full ("full FIFO": the walk moves to the consumer's step that
  made room; SAM sees the room two cycles later).

When a step's own work and an input are ready in the same cycle the walk stays on the
primitive: it was working, not waiting. The largest (node, resource) sum is what to attack:
an op busy most of the run need not be on the path (a reducer behind a slower scanner).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from interpreter.errors import SimulationError
from interpreter.sam.critical_path_kernel import CHASE
from interpreter.sam.cycles import (
    WRITERS,
    GraphTiming,
    HbmModel,
    _credit_steps,
    _edges,
    memory_bound,
    shared_memory_floor,
)
from interpreter.sam.execute import GraphRun

STEPS, LATENCY, HBM_LATENCY, HBM = (
    "primitive steps",
    "token latency",
    "HBM latency",
    "HBM bandwidth",
)
FULL = "full FIFO"
CREDIT_OFFSET = 2  # cycles from a consumer's take until the producer sees the room


@dataclass
class CriticalPath:
    """Cycles of the path per (graph index, node id, resource); full-FIFO waits crossed per
    (graph index, producer id, consumer id); `cycles` is what the walks covered."""

    cycles: int = 0
    share: dict[tuple[int, int, str], float] = field(default_factory=dict)
    stalls: dict[tuple[int, int, int], int] = field(default_factory=dict)

    def add(self, g: int, v: int, resource: str, cycles: float) -> None:
        if cycles > 0:
            key = (g, v, resource)
            self.share[key] = self.share.get(key, 0.0) + cycles

    def by_resource(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for (_, _, res), c in self.share.items():
            out[res] += c
        return dict(out)

    def by_node(self) -> dict[tuple[int, int], float]:
        out: dict[tuple[int, int], float] = defaultdict(float)
        for (g, v, _), c in self.share.items():
            out[(g, v)] += c
        return dict(out)

    def top(self) -> tuple[int, int, str] | None:
        """The resource holding most of the path, with the (graph, node) holding most of
        that resource: (graph, node, resource); None for an empty path."""
        totals = self.by_resource()
        if not totals:
            return None
        resource = max(totals, key=totals.get)  # type: ignore[arg-type]
        mine = {k: c for k, c in self.share.items() if k[2] == resource}
        return max(mine, key=mine.get)  # type: ignore[arg-type]


_OWN, _RELEASE, _ROOM = -1, -2, -3
_KINDS = {_OWN: STEPS, _RELEASE: HBM, _ROOM: FULL}


class _GraphWalk:
    """One graph's steps as flat arrays (node by node, `off[v] + s` the global number of
    step s of node v): what each step waited for last, found for all steps at once, and
    the chase back from the last step through those waits."""

    def __init__(
        self, g: int, run: GraphRun, timing: GraphTiming, hbm: HbmModel | None, depth: int
    ) -> None:
        self.g, self.run, self.timing, self.hbm, self.depth = g, run, timing, hbm, depth
        self.ids = [n.id for n in run.graph.nodes]
        sizes = [len(timing.times[v]) for v in self.ids]
        self.off = dict(zip(self.ids, np.cumsum([0, *sizes[:-1]]).tolist(), strict=True))
        total = int(sum(sizes))
        self.start = np.concatenate([timing.times[v] for v in self.ids] or [np.zeros(0)])
        self.start = self.start.astype(np.int64, copy=False)
        self.ends = np.cumsum(sizes)
        self.ready = np.full(total, -1, dtype=np.int64)
        self.kind = np.full(total, _OWN, dtype=np.int16)
        self.pred = np.full(total, -1, dtype=np.int64)
        self.trip: dict[int, np.ndarray] = {}
        release: dict[int, np.ndarray] = {}
        if hbm is not None:
            for v, result in run.results.items():
                plan = result.plan
                if plan.memory is not None and len(plan.memory):
                    steps, at = memory_bound(plan, hbm)
                    release[v] = np.zeros(plan.steps, dtype=np.int64)
                    release[v][steps] = at
                    self.trip[v] = np.zeros(plan.steps, dtype=np.int64)
                    self.trip[v][steps] = hbm.latency
        # an input wait's HBM round trip; the consumer that made room in a full FIFO
        self.extra = np.zeros(total, dtype=np.int64) if self.trip else None
        self.stall_with = np.full(total, -1, dtype=np.int64) if depth > 0 else None
        for v in self.ids:
            self._own(v, release.get(v))
        for e in _edges(run):
            self._input(e)
            if depth > 0 and e.consumer.op not in WRITERS and len(e.emit):
                self._room(e)
        self.first = np.arange(total)  # where the back-to-back run through each step starts
        chained = self.ready[1:] == self.start[1:]
        chained &= self.kind[1:] == _OWN
        self.first[1:][chained] = 0
        np.maximum.accumulate(self.first, out=self.first)
        stop = (self.start <= 0) | (self.kind == _RELEASE)
        self.pred[stop] = -1

    def _owner(self, steps: np.ndarray) -> np.ndarray:
        """Index in `ids` of the node owning each of these global step numbers."""
        return np.searchsorted(self.ends, steps, side="right")

    def _span(self, v: int) -> slice:
        return slice(self.off[v], self.off[v] + len(self.timing.times[v]))

    def _own(self, v: int, release: np.ndarray | None) -> None:
        at, t = self._span(v), self.timing.times[v]
        if len(t) > 1:
            self.ready[at][1:] = t[:-1] + int(self.timing.costs[v].ii)
            self.pred[at][1:] = np.arange(at.start, at.stop - 1)
        if release is not None:
            later = release > self.ready[at]
            self._set(at, later, release, _RELEASE, -1)

    def _set(self, at: slice, better, value, kind, pred, extra=0, stall=None) -> None:
        """Steps `better` of the span `at` waited for `value` (of this kind) last. Few
        steps change per edge (a tenth on SpMV), so by index, not by mask over the span."""
        rows = np.flatnonzero(better)
        steps = at.start + rows
        self.ready[steps] = _rows(value, rows)
        self.kind[steps] = kind
        self.pred[steps] = _rows(pred, rows)
        if self.extra is not None:
            self.extra[steps] = _rows(extra, rows)
        if stall is not None and self.stall_with is not None:
            self.stall_with[steps] = stall

    def _input(self, e) -> None:
        """The last token each consumer step takes on edge e, and when it arrived."""
        c, p = e.consumer.id, e.producer.id
        at, n = self._span(c), len(self.timing.times[c])
        trip = self.trip.get(c, 0)
        if e.one_per_step[1]:  # step m takes token m: no counting (most edges)
            k = min(len(e.take), n)
            steps = slice(at.start, at.start + k)
            emitted = e.emit[:k]
            sent = self.timing.times[p][:k] if e.one_per_step[0] else self.timing.times[p][emitted]
            trip = trip[:k] if isinstance(trip, np.ndarray) else trip
            arrival = sent + (int(self.timing.costs[p].latency) + trip)
            better = arrival > self.ready[steps]
            self._set(steps, better, arrival, e.index, self.off[p] + emitted, trip)
            return
        taken = np.bincount(e.take, minlength=n)[:n]
        last = np.cumsum(taken) - 1
        valid = taken > 0
        emitted = e.emit[np.maximum(last, 0)] if len(e.emit) else np.zeros(n, dtype=np.int64)
        arrival = self.timing.times[p][emitted] + (int(self.timing.costs[p].latency) + trip)
        better = valid & (arrival > self.ready[at])
        self._set(at, better, arrival, e.index, self.off[p] + emitted, trip)

    def _room(self, e) -> None:
        """Room in a bounded FIFO: the step emitting credit m waits for the consumer's
        take of token m - depth - 1, seen `CREDIT_OFFSET` cycles later."""
        p, c = e.producer.id, e.consumer.id
        at, n = self._span(p), len(self.timing.times[p])
        if e.one_per_step[0]:  # step s emits token s, so credit s binds step s
            lo, k = self.depth + 1, min(len(e.emit), n)
            if k > lo:
                steps = slice(at.start + lo, at.start + k)
                took = e.take[: k - lo]
                ready = self.timing.times[c][took] + CREDIT_OFFSET
                better = ready > self.ready[steps]
                self._set(steps, better, ready, _ROOM, self.off[c] + took, stall=c)
            return
        credits = np.bincount(_credit_steps(e.emit), minlength=n)[:n]
        m = np.cumsum(credits) - 1 - (self.depth + 1)
        valid = (credits > 0) & (m >= 0)
        took = e.take[np.maximum(m, 0)]
        ready = self.timing.times[c][took] + CREDIT_OFFSET
        better = valid & (ready > self.ready[at])
        self._set(at, better, ready, _ROOM, self.off[c] + took, stall=c)

    def walk(self, path: CriticalPath) -> int:
        """Add this graph's path to `path`; returns the cycles it covered."""
        cycles = self.timing.cycles
        lasts = [
            (int(self.timing.times[v][-1]) + 1, v) for v in self.ids if len(self.timing.times[v])
        ]
        if not lasts:
            return cycles
        end, v = max(lasts)
        if self.hbm is not None and shared_memory_floor(self.run, self.hbm) > end:
            words = {
                u: len(r.plan.memory)
                for u, r in self.run.results.items()
                if r.plan.memory is not None
            }
            path.add(self.g, max(words, key=words.get), HBM, cycles)  # type: ignore[arg-type]
            return cycles
        last = self.off[v] + len(self.timing.times[v]) - 1
        path.add(self.g, v, STEPS, end - int(self.start[last]))
        try:
            hops = CHASE.pick(len(self.first))(last, self.first, self.pred)
        except ValueError as exc:  # a timeline no schedule can have: a simulator bug
            raise SimulationError(f"SAM critical path of graph {self.g}: {exc}") from None
        ids = np.asarray(self.ids)
        ii = np.array([self.timing.costs[u].ii for u in self.ids], dtype=np.int64)
        runs, starts = hops[:, 0], hops[:, 1]
        node = self._owner(starts)
        self._charge(path, ids[node], STEPS, (runs - starts) * ii[node])
        waited = starts[self.start[starts] > 0]
        kind, ready = self.kind[waited], self.ready[waited]
        owner = self._owner(waited)
        node = ids[owner]
        gap = self.start[waited] - np.maximum(ready, 0)
        self._charge(path, node, FULL if self.depth else STEPS, gap)
        for k, resource in _KINDS.items():
            mine = kind == k
            amount = ready[mine] if k == _RELEASE else (
                ii[owner[mine]] if k == _OWN else np.full(mine.sum(), CREDIT_OFFSET)
            )  # fmt: skip
            self._charge(path, node[mine], resource, amount)
        inputs = kind >= 0
        src = self.pred[waited[inputs]]
        extra = self.extra[waited[inputs]] if self.extra is not None else np.zeros(len(src))
        self._charge(path, ids[self._owner(src)], LATENCY, ready[inputs] - extra - self.start[src])
        self._charge(path, node[inputs], HBM_LATENCY, extra)
        if self.stall_with is None:
            return min(end, cycles)
        stalled = kind == _ROOM
        width = int(ids.max()) + 1
        pairs = node[stalled] * width + self.stall_with[waited[stalled]]
        found, counts = np.unique(pairs, return_counts=True)
        for key, k in zip(found.tolist(), counts.tolist(), strict=True):
            u, c = divmod(key, width)
            path.stalls[(self.g, u, c)] = path.stalls.get((self.g, u, c), 0) + k
        return min(end, cycles)

    def _charge(self, path: CriticalPath, nodes: np.ndarray, resource: str, amount) -> None:
        amount = np.asarray(amount, dtype=np.float64)
        if not len(nodes):
            return
        sums = np.bincount(nodes, weights=amount)
        for u in np.flatnonzero(sums):
            path.add(self.g, int(u), resource, float(sums[u]))


def _rows(values, rows: np.ndarray):
    """`values` at `rows` (one value for all: itself)."""
    return values[rows] if np.ndim(values) else values


def critical_path(
    runs: list[GraphRun], timings: list[GraphTiming], hbm: HbmModel | None, fifo_depth: int
) -> CriticalPath:
    """The critical path of a timed program (`fifo_depth` 0: unbounded FIFOs)."""
    path = CriticalPath()
    for g, (run, timing) in enumerate(zip(runs, timings, strict=True)):
        path.cycles += _GraphWalk(g, run, timing, hbm, fifo_depth).walk(path)
    return path
