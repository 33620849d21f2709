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
class _In:
    """An input edge of a node: the producer, the steps of its tokens, their arrival."""

    producer: int
    emit: np.ndarray
    take: np.ndarray
    arrival: np.ndarray
    hbm_extra: np.ndarray  # per token: the round trip of the consumer's memory step


@dataclass
class _Out:
    """An output edge that holds credits: step of each credit, consumer's take steps."""

    consumer: int
    credit: np.ndarray
    take: np.ndarray


class _GraphWalk:
    def __init__(
        self, g: int, run: GraphRun, timing: GraphTiming, hbm: HbmModel | None, depth: int
    ) -> None:
        self.g, self.run, self.timing, self.hbm = g, run, timing, hbm
        self.start = timing.times
        self.ii = {v: int(c.ii) for v, c in timing.costs.items()}
        self.release: dict[int, np.ndarray] = {}
        moves: dict[int, np.ndarray] = {}
        if hbm is not None:
            for v, result in run.results.items():
                plan = result.plan
                if plan.memory is not None and len(plan.memory):
                    steps, ready = memory_bound(plan, hbm)
                    self.release[v] = np.zeros(plan.steps, dtype=np.int64)
                    self.release[v][steps] = ready
                    moves[v] = np.zeros(plan.steps, dtype=bool)
                    moves[v][steps] = True
        self.ins: dict[int, list[_In]] = defaultdict(list)
        self.outs: dict[int, list[_Out]] = defaultdict(list)
        for e in _edges(run):
            p, c = e.producer.id, e.consumer.id
            extra = np.zeros(len(e.take), dtype=np.int64)
            if c in moves and hbm is not None:
                extra[moves[c][e.take]] = hbm.latency
            lat = int(timing.costs[p].latency)
            arrival = self.start[p][e.emit] + lat + extra
            self.ins[c].append(_In(p, e.emit, e.take, arrival, extra))
            if depth > 0 and e.consumer.op not in WRITERS and len(e.emit):
                self.outs[p].append(_Out(c, _credit_steps(e.emit), e.take))
        self.depth = depth
        self.first: dict[int, np.ndarray] = {}

    def run_start(self, v: int) -> np.ndarray:
        """Per step of v, the first step of the back-to-back run that ends there."""
        if v not in self.first:
            t, n = self.start[v], len(self.start[v])
            chained = np.zeros(n, dtype=bool)
            chained[1:] = t[1:] == t[:-1] + self.ii[v]
            self.first[v] = np.maximum.accumulate(np.where(chained, 0, np.arange(n)))
        return self.first[v]

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
        path.add(self.g, v, STEPS, covered - int(self.start[v][s]))
        for _ in range(MAX_HOPS):
            first = int(self.run_start(v)[s])
            path.add(self.g, v, STEPS, (s - first) * self.ii[v])
            s = first
            nxt = self._why(path, v, s)
            if nxt is None:
                return covered
            v, s = nxt
        return covered - int(self.start[v][s])

    def _why(self, path: CriticalPath, v: int, s: int) -> tuple[int, int] | None:
        """The step that step s of node v waited for last, charging the wait; None at the
        start of the graph."""
        t = int(self.start[v][s])
        if t <= 0:
            return None
        best: tuple[int, tuple[int, int] | None, list[tuple[int, str, int]]] = (-1, None, [])
        if s > 0:
            best = (int(self.start[v][s - 1]) + self.ii[v], (v, s - 1), [(v, STEPS, self.ii[v])])
        if v in self.release and self.release[v][s] > best[0]:
            best = (int(self.release[v][s]), None, [(v, HBM, int(self.release[v][s]))])
        for edge in self.ins.get(v, ()):
            k = int(np.searchsorted(edge.take, s, "right")) - 1
            if k < 0 or edge.take[k] != s:
                continue
            ready = int(edge.arrival[k])
            if ready > best[0]:
                q = int(edge.emit[k])
                wait = ready - int(self.start[edge.producer][q])
                extra = int(edge.hbm_extra[k])
                charges = [(edge.producer, LATENCY, wait - extra), (v, HBM_LATENCY, extra)]
                best = (ready, (edge.producer, q), charges)
        for out in self.outs.get(v, ()):
            m = int(np.searchsorted(out.credit, s, "right")) - 1 - (self.depth + 1)
            if m < 0:
                continue
            took = int(out.take[m])
            ready = int(self.start[out.consumer][took]) + CREDIT_OFFSET
            if ready > best[0]:
                best = (ready, (out.consumer, took), [(v, FULL, CREDIT_OFFSET)])
        ready, nxt, charges = best
        for u, resource, cycles in charges:
            path.add(self.g, u, resource, cycles)
        if charges and charges[0][1] == FULL and nxt is not None:
            key = (self.g, v, nxt[0])
            path.stalls[key] = path.stalls.get(key, 0) + 1
        gap = t - max(ready, 0)
        if gap > 0:  # SAM's lagged room rule: the unit stalled on a credit seen late
            path.add(self.g, v, FULL if self.depth else STEPS, gap)
        return nxt


def critical_path(
    runs: list[GraphRun], timings: list[GraphTiming], hbm: HbmModel | None, fifo_depth: int
) -> CriticalPath:
    """The critical path of a timed program (`fifo_depth` 0: unbounded FIFOs)."""
    path = CriticalPath()
    for g, (run, timing) in enumerate(zip(runs, timings, strict=True)):
        path.cycles += _GraphWalk(g, run, timing, hbm, fifo_depth).walk(path)
    return path
