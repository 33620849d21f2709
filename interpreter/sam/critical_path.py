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
from interpreter.sam import critical_path_kernel as kernel
from interpreter.sam.critical_path_kernel import (
    _OWN,
    _RELEASE,
    CHARGE_PATH,
    INPUT_WAITS,
    ROOM_WAITS,
)
from interpreter.sam.cycles import (
    WRITERS,
    GraphTiming,
    HbmModel,
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


class _GraphWalk:
    """One graph's steps as flat arrays (node by node, `off[v] + s` the global number of
    step s of node v): what each step waited for last, and the chase back from the last
    step through those waits.

    The chase crosses a back-to-back run in one jump and asks why only at the step a run
    starts at, so that is all that is worked out: a step that began the moment its
    previous one ended waited for nothing later (its tokens and releases are not later
    than its start: the solver's own rule; a credit it started ahead of, SAM's lagged
    rule, binds its next step). Unbounded SpMV 2000^2 has 15 run starts in 350K steps."""

    def __init__(
        self, g: int, run: GraphRun, timing: GraphTiming, hbm: HbmModel | None, depth: int
    ) -> None:
        self.g, self.run, self.timing, self.hbm, self.depth = g, run, timing, hbm, depth
        self.ids = [n.id for n in run.graph.nodes]
        sizes = np.array([len(timing.times[v]) for v in self.ids], dtype=np.int64)
        heads = np.cumsum(sizes) - sizes
        self.off = dict(zip(self.ids, heads.tolist(), strict=True))
        total = int(sizes.sum())
        self.start = np.concatenate([timing.times[v] for v in self.ids] or [np.zeros(0)])
        self.start = self.start.astype(np.int64, copy=False)
        self.ends = np.cumsum(sizes)
        heads = heads[sizes > 0]
        # own work: step s may start once step s - 1 is II cycles in (a node's first: -1)
        ii = np.repeat([int(timing.costs[v].ii) for v in self.ids], sizes)
        self.ready = np.empty(total, dtype=np.int64)
        self.ready[1:] = self.start[:-1] + ii[:-1]
        self.ready[heads] = -1
        self.rows = self._run_starts()
        # what each step waited for last, set only where a run starts (the walk reads no
        # other step's): at first, its own previous step (a node's first: nothing)
        self.pred = np.empty(total, dtype=np.int64)
        self.pred[self.rows] = self.rows - 1
        self.pred[heads] = -1
        self.kind = np.empty(total, dtype=np.int16)
        self.kind[self.rows] = _OWN
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
        self.extra = self._at_rows(0)
        self.stall_with = self._at_rows(-1)
        for v in self.ids:
            if v in release:
                at = self._rows_of(v)
                later = release[v][at - self.off[v]] > self.ready[at]
                self._set(at, later, release[v][at - self.off[v]], _RELEASE, -1, 0)
        self._edge_waits(timing.edges, depth)
        self.first = np.zeros(total, dtype=np.int64)  # where the run through each step starts
        self.first[self.rows] = self.rows
        np.maximum.accumulate(self.first, out=self.first)
        stop = (self.start[self.rows] <= 0) | (self.kind[self.rows] == _RELEASE)
        self.pred[self.rows[stop]] = -1

    def _at_rows(self, value: int) -> np.ndarray:
        """A per-step array holding `value` where a run starts (elsewhere unset)."""
        out = np.empty(len(self.start), dtype=np.int64)
        out[self.rows] = value
        return out

    def _run_starts(self) -> np.ndarray:
        """The global numbers of the steps a back-to-back run starts at (ascending): those
        that did not start the moment their previous step ended."""
        return np.flatnonzero(self.ready != self.start)

    def _rows_of(self, v: int) -> np.ndarray:
        """The global numbers of node v's steps that start a run."""
        lo, hi = np.searchsorted(self.rows, [self.off[v], self.off[v] + len(self.timing.times[v])])
        return self.rows[lo:hi]

    def _set(self, steps: np.ndarray, better, value, kind, base, sent) -> None:
        """Steps `steps[better]` waited for `value` (of this kind) last, which global step
        `base + sent` gave (all three per entry of `steps`, or one value for all)."""
        steps = steps[better]
        self.ready[steps] = _rows(value, better)
        self.kind[steps] = kind
        self.pred[steps] = base + _rows(sent, better)
        self.extra[steps] = 0

    def _edge_waits(self, edges, depth: int) -> None:
        """Per edge, in order (the first of equal waits is the one kept): the last token
        each run-starting step of its consumer takes on it, and when that arrived; with
        bounded FIFOs, the room at the run-starting steps of its producer (channels into
        writers hold no credits)."""
        at = {v: self._rows_of(v) for v in self.ids}
        bounded = [depth > 0 and e.consumer.op not in WRITERS and len(e.emit) > 0 for e in edges]
        inputs = INPUT_WAITS.pick(sum(len(at[e.consumer.id]) for e in edges))
        rooms = ROOM_WAITS.pick(
            sum(len(at[e.producer.id]) for e, room in zip(edges, bounded, strict=True) if room)
        )
        arrays = (self.start, self.ready, self.kind, self.pred, self.extra)
        none = np.zeros(0, dtype=np.int64)
        for e, room in zip(edges, bounded, strict=True):
            c, p = e.consumer.id, e.producer.id
            latency = int(self.timing.costs[p].latency)
            trip = self.trip.get(c, none)
            inputs(at[c], self.off[c], e.take, e.one_per_step[1], e.emit, self.off[p], latency,
                   trip, e.index, *arrays)  # fmt: skip
            if room:
                credit = none if e.one_per_step[0] else e.credit
                rooms(at[p], self.off[p], len(e.emit), e.one_per_step[0], credit, e.take,
                      depth, self.off[c], c, *arrays, self.stall_with)  # fmt: skip

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
        ids = np.asarray(self.ids, dtype=np.int64)
        ii = np.array([self.timing.costs[u].ii for u in self.ids], dtype=np.int64)
        width = int(ids.max()) + 1
        share, stalls = np.zeros((kernel.PARTS, width)), np.zeros((width, width), dtype=np.int64)
        try:
            CHARGE_PATH.pick(len(self.rows))(last, self.first, self.pred, self.start, self.ready,
                                             self.kind, self.extra, self.stall_with, self.ends,
                                             ids, ii, share, stalls)  # fmt: skip
        except ValueError as exc:  # a timeline no schedule can have: a simulator bug
            raise SimulationError(f"SAM critical path of graph {self.g}: {exc}") from None
        for resource, sums in zip(self._parts(), share, strict=True):
            for u in np.flatnonzero(sums).tolist():
                path.add(self.g, u, resource, float(sums[u]))
        for key in np.flatnonzero(stalls).tolist():
            u, c = divmod(key, width)
            path.stalls[(self.g, u, c)] = path.stalls.get((self.g, u, c), 0) + int(stalls[u, c])
        return min(end, cycles)

    def _parts(self) -> tuple[str, ...]:
        """The resource of each part of `charge_path`'s sums, in the order they are added
        to the path (which a tie between resources is resolved by)."""
        parts = {
            kernel.RUN: STEPS,
            kernel.SLACK: FULL if self.depth else STEPS,
            kernel.OWN_STEP: STEPS,
            kernel.RELEASE: HBM,
            kernel.ROOM: FULL,
            kernel.LATENCY: LATENCY,
            kernel.HBM_LATENCY: HBM_LATENCY,
        }
        return tuple(parts[k] for k in range(kernel.PARTS))


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
