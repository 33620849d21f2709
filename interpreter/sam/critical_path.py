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
    step s of node v): what each run-starting step waited for last, and the chase back
    from the last step through those waits.

    The chase crosses a back-to-back run in one jump and asks why only at the step a run
    starts at, so that is all that is worked out, a row of `waits` per run start: a step
    that began the moment its previous one ended waited for nothing later (its tokens and
    releases are not later than its start: the solver's own rule; a credit it started
    ahead of, SAM's lagged rule, binds its next step). Unbounded SpMV 2000^2 has 15 run
    starts in 350K steps (46K with depth-2 FIFOs)."""

    def __init__(
        self, g: int, run: GraphRun, timing: GraphTiming, hbm: HbmModel | None, depth: int
    ) -> None:
        self.g, self.run, self.timing, self.hbm, self.depth = g, run, timing, hbm, depth
        self.ids = [n.id for n in run.graph.nodes]
        sizes = np.array([len(timing.times[v]) for v in self.ids], dtype=np.int64)
        heads = np.cumsum(sizes) - sizes
        self.off = dict(zip(self.ids, heads.tolist(), strict=True))
        self.start = timing.start  # node by node, as `off` numbers them
        self.ends = np.cumsum(sizes)
        self.ii = np.array([int(timing.costs[v].ii) for v in self.ids], dtype=np.int64)
        rows = self._run_starts(heads[sizes > 0], sizes)
        # per node, its run starts are rows[lo[o]:lo[o + 1]] (a node's first step is one)
        self.lo = np.searchsorted(rows, np.append(heads, self.ends[-1:]))
        first = self.lo[:-1][sizes > 0]
        # what each run start waited for last, a row each (the kernels read a row's fields
        # together); its columns by name
        self.waits = waits = np.empty((len(rows), kernel.FIELDS), dtype=np.int64)
        self.rows, self.begin, self.ready = (
            waits[:, kernel.STEP],
            waits[:, kernel.START],
            waits[:, kernel.READY],
        )
        self.kind, self.pred = waits[:, kernel.KIND], waits[:, kernel.PRED]
        self.extra, self.stall_with = waits[:, kernel.EXTRA], waits[:, kernel.STALL]
        self.rows[:] = rows
        self.begin[:] = self.start[rows]
        # at first, its own previous step, II cycles before it may start (a node's first:
        # nothing); an input wait's HBM round trip; the consumer that made room in a FIFO
        self.pred[:] = rows - 1
        self.pred[first] = -1
        self.ready[:] = self.start[self.pred] + np.repeat(self.ii, np.diff(self.lo))
        self.ready[first] = -1
        self.kind[:] = _OWN
        self.extra[:] = 0
        self.stall_with[:] = -1
        self.trip: dict[int, np.ndarray] = {}
        if hbm is not None:
            self._release_waits(hbm)
        self._edge_waits(timing.edges, depth)
        self.pred[(self.begin <= 0) | (self.kind == _RELEASE)] = -1

    def _run_starts(self, firsts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """The global numbers of the steps a back-to-back run starts at (ascending): a
        node's first step (`firsts`), and those that did not start the moment their
        previous step ended. Over all steps at once (`sizes`: each node's), a node's first
        step being one whatever the step before it (another node's) did."""
        ii = self.ii
        same = len(ii) and (ii == ii[0]).all()  # (the usual: no array of IIs per step)
        step_ii = ii[:1] if same else np.repeat(ii, sizes)[1:]
        starts = np.empty(len(self.start), dtype=bool)
        np.not_equal(np.diff(self.start), step_ii, out=starts[1:])
        starts[firsts] = True
        return np.flatnonzero(starts)

    def _span(self, v: int) -> slice:
        """Where node v's run starts are in `rows` (the rows of `waits`)."""
        o = self.ids.index(v)
        return slice(int(self.lo[o]), int(self.lo[o + 1]))

    def _release_waits(self, hbm: HbmModel) -> None:
        """Steps that move memory words: their round trip (`trip`, added to an input's
        wait) and the time their words are through the HBM channels (a wait, when later
        than what they waited for so far)."""
        for v in self.ids:
            plan = self.run.results[v].plan
            if plan.memory is None or not len(plan.memory):
                continue
            steps, at = memory_bound(plan, hbm)
            release = np.zeros(plan.steps, dtype=np.int64)
            release[steps] = at
            self.trip[v] = np.zeros(plan.steps, dtype=np.int64)
            self.trip[v][steps] = hbm.latency
            span = self._span(v)
            mine = release[self.rows[span] - self.off[v]]
            later = np.flatnonzero(mine > self.ready[span]) + span.start
            self.ready[later] = mine[later - span.start]
            self.kind[later] = _RELEASE
            self.pred[later] = -1

    def _edge_waits(self, edges, depth: int) -> None:
        """Per edge, in order (the first of equal waits is the one kept): the last token
        each run-starting step of its consumer takes on it, and when that arrived; with
        bounded FIFOs, the room at the run-starting steps of its producer (channels into
        writers hold no credits)."""
        span = {v: self._span(v) for v in self.ids}
        bounded = [depth > 0 and e.consumer.op not in WRITERS and len(e.emit) > 0 for e in edges]
        size = {v: sp.stop - sp.start for v, sp in span.items()}
        inputs = INPUT_WAITS.pick(sum(size[e.consumer.id] for e in edges))
        rooms = ROOM_WAITS.pick(
            sum(size[e.producer.id] for e, room in zip(edges, bounded, strict=True) if room)
        )
        none = np.zeros(0, dtype=np.int64)
        for e, room in zip(edges, bounded, strict=True):
            c, p = e.consumer.id, e.producer.id
            latency = int(self.timing.costs[p].latency)
            inputs(self.waits[span[c]], self.off[c], e.take, e.one_per_step[1], e.emit,
                   self.off[p], latency, self.trip.get(c, none), e.index, self.start)  # fmt: skip
            if room:
                credit = none if e.one_per_step[0] else e.credit
                rooms(self.waits[span[p]], self.off[p], len(e.emit), e.one_per_step[0], credit,
                      e.take, depth, self.off[c], c, self.start)  # fmt: skip

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
        width = int(ids.max()) + 1
        share, stalls = np.zeros((kernel.PARTS, width)), np.zeros((width, width), dtype=np.int64)
        cursor = np.maximum(self.lo[1:] - 1, 0)  # each node's last run start (see the chase)
        try:
            CHARGE_PATH.pick(len(self.rows))(last, self.waits, self.start, self.ends, ids,
                                             self.ii, share, stalls, cursor)  # fmt: skip
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


def critical_path(
    runs: list[GraphRun], timings: list[GraphTiming], hbm: HbmModel | None, fifo_depth: int
) -> CriticalPath:
    """The critical path of a timed program (`fifo_depth` 0: unbounded FIFOs)."""
    path = CriticalPath()
    for g, (run, timing) in enumerate(zip(runs, timings, strict=True)):
        path.cycles += _GraphWalk(g, run, timing, hbm, fifo_depth).walk(path)
    return path
