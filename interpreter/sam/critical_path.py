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
MAX_HOPS = 20_000  # a longer walk stops; the part it covered is still reported
CREDIT_OFFSET = 2  # cycles from a consumer's take until the producer sees the room


@dataclass
class CriticalPath:
    """Cycles of the path per (graph index, node id, resource); full-FIFO waits crossed per
    (graph index, producer id, consumer id); `cycles` is what the walks covered (all of it
    unless a walk passed `MAX_HOPS`)."""

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
        """(graph, node, resource) holding most of the path."""
        return max(self.share, key=self.share.get, default=None)  # type: ignore[arg-type]


@dataclass
class _Step:
    """Per step of one node, what it waited for last (computed for all its steps at once):
    the time that was ready, the kind (`_OWN`, `_RELEASE`, an input edge's index, or
    `_ROOM` - index of an output edge), the step waited for and its node, and the
    latency or HBM round trip the wait held (Python lists: the walk reads them one by
    one)."""

    ready: list[int]
    kind: list[int]
    node: list[int]
    step: list[int]
    extra: list[int]  # the HBM round trip of an input wait
    first: list[int]  # first step of the back-to-back run ending here


_OWN, _RELEASE, _ROOM = -1, -2, 1000


class _GraphWalk:
    def __init__(
        self, g: int, run: GraphRun, timing: GraphTiming, hbm: HbmModel | None, depth: int
    ) -> None:
        self.g, self.run, self.timing, self.hbm, self.depth = g, run, timing, hbm, depth
        self.start = timing.times
        self.ii = {v: int(c.ii) for v, c in timing.costs.items()}
        self.release: dict[int, np.ndarray] = {}
        self.moves: dict[int, np.ndarray] = {}
        if hbm is not None:
            for v, result in run.results.items():
                plan = result.plan
                if plan.memory is not None and len(plan.memory):
                    steps, ready = memory_bound(plan, hbm)
                    self.release[v] = np.zeros(plan.steps, dtype=np.int64)
                    self.release[v][steps] = ready
                    self.moves[v] = np.zeros(plan.steps, dtype=bool)
                    self.moves[v][steps] = True
        self.edges = _edges(run)
        self.ins: dict[int, list[int]] = defaultdict(list)
        self.outs: dict[int, list[int]] = defaultdict(list)
        for i, e in enumerate(self.edges):
            self.ins[e.consumer.id].append(i)
            if depth > 0 and e.consumer.op not in WRITERS and len(e.emit):
                self.outs[e.producer.id].append(i)
        self.steps: dict[int, _Step] = {}

    def why(self, v: int) -> _Step:
        """What each step of node v waited for last (the solver's max, own work first so
        that a tie keeps the walk on the primitive)."""
        if v in self.steps:
            return self.steps[v]
        t = self.start[v]
        n = len(t)
        index = np.arange(n)
        ready = np.full(n, -1, dtype=np.int64)
        kind = np.full(n, _OWN, dtype=np.int64)
        node = np.full(n, v, dtype=np.int64)
        step = index - 1
        extra = np.zeros(n, dtype=np.int64)
        ready[1:] = t[:-1] + self.ii[v]
        if v in self.release:
            later = self.release[v] > ready
            ready[later], kind[later], step[later] = self.release[v][later], _RELEASE, -1

        def take(better, value, k, u, s, x=0):
            ready[better], kind[better], node[better], step[better] = value[better], k, u, s
            extra[better] = x[better] if isinstance(x, np.ndarray) else x

        for i in self.ins.get(v, ()):
            e = self.edges[i]
            last = np.searchsorted(e.take, index, "right") - 1
            valid = last >= 0
            valid[valid] = e.take[last[valid]] == index[valid]
            last = np.where(valid, last, 0)
            p = e.producer.id
            trip = np.zeros(n, dtype=np.int64)
            if v in self.moves and self.hbm is not None:
                trip[self.moves[v]] = self.hbm.latency
            emitted = e.emit[last] if len(e.emit) else last
            value = self.start[p][emitted] + int(self.timing.costs[p].latency) + trip
            take(valid & (value > ready), value, i, p, emitted, trip)
        for i in self.outs.get(v, ()):
            e = self.edges[i]
            m = np.searchsorted(_credit_steps(e.emit), index, "right") - 1 - (self.depth + 1)
            valid = m >= 0
            took = e.take[np.where(valid, m, 0)]
            value = self.start[e.consumer.id][took] + CREDIT_OFFSET
            take(valid & (value > ready), value, _ROOM + i, e.consumer.id, took)
        chained = (kind == _OWN) & (ready == t)
        first = np.maximum.accumulate(np.where(chained, 0, index))
        self.steps[v] = _Step(
            ready.tolist(), kind.tolist(), node.tolist(), step.tolist(), extra.tolist(),
            first.tolist(),
        )  # fmt: skip
        return self.steps[v]

    def walk(self, path: CriticalPath) -> int:
        """Add this graph's path to `path`; returns the cycles it covered."""
        cycles = self.timing.cycles
        ends = [(int(t[-1]) + 1, v) for v, t in self.start.items() if len(t)]
        if not ends:
            return cycles
        end, v = max(ends)
        words_floor = shared_memory_floor(self.run, self.hbm) if self.hbm else 0
        if words_floor >= cycles and words_floor > end:
            busiest = max(self.release, key=lambda u: len(self.run.results[u].plan.memory))
            path.add(self.g, busiest, HBM, cycles)
            return cycles
        s = len(self.start[v]) - 1
        covered = min(end, cycles)
        g, add = self.g, path.add
        add(g, v, STEPS, covered - int(self.start[v][s]))
        for _ in range(MAX_HOPS):
            w = self.why(v)
            first = w.first[s]
            add(g, v, STEPS, (s - first) * self.ii[v])
            s = first
            t = int(self.start[v][s])
            if t <= 0:
                return covered
            ready, kind, u, q = w.ready[s], w.kind[s], w.node[s], w.step[s]
            if kind == _OWN:
                add(g, v, STEPS, self.ii[v])
            elif kind == _RELEASE:
                add(g, v, HBM, ready)
            elif kind >= _ROOM:
                add(g, v, FULL, CREDIT_OFFSET)
                path.stalls[(g, v, u)] = path.stalls.get((g, v, u), 0) + 1
            else:
                x = w.extra[s]
                add(g, u, LATENCY, ready - x - int(self.start[u][q]))
                add(g, v, HBM_LATENCY, x)
            if t > max(ready, 0):  # SAM's lagged room rule: a stall on a credit seen late
                add(g, v, FULL if self.depth else STEPS, t - max(ready, 0))
            if kind == _RELEASE or q < 0:
                return covered
            v, s = u, q
        return covered - int(self.start[v][s])


def critical_path(
    runs: list[GraphRun], timings: list[GraphTiming], hbm: HbmModel | None, fifo_depth: int
) -> CriticalPath:
    """The critical path of a timed program (`fifo_depth` 0: unbounded FIFOs)."""
    path = CriticalPath()
    for g, (run, timing) in enumerate(zip(runs, timings, strict=True)):
        path.cycles += _GraphWalk(g, run, timing, hbm, fifo_depth).walk(path)
    return path
