"""The timing pass: cycles from schedules, with numpy instead of a per-cycle loop.

Comal's model: every primitive has its own clock and performs one step per II cycles;
a step starts once the tokens it takes have arrived; what it emits arrives at the consumer
`latency` cycles later. So the time of step s is t[s] = max(t[s-1] + II, ready[s]), which
is s*II + cummax(ready - s*II): one `np.maximum.accumulate` per primitive.

Bounded FIFOs (depth d) add "the step emitting token m waits until the consumer took token
m - d"; forward and backward sweeps alternate until no time changes.

The optional HBM model (Comal's channel parameters) makes a step that moves memory words
wait `latency` cycles after its inputs are ready (the request's round trip), and no earlier
than its own words can stream through the channels (`channels` words every `ii` cycles
after the start-up). Channels shared between primitives are accounted for at graph level:
a graph takes at least start-up + (all its words / channels) * ii cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interpreter.errors import SimulationError
from interpreter.sam.execute import GraphRun
from interpreter.sam.rules import Schedule, steps_of

MAX_SWEEPS = 400


@dataclass
class HbmModel:
    channels: int = 8
    latency: int = 2
    ii: int = 2
    startup: int = 14


@dataclass
class GraphTiming:
    cycles: int
    times: dict[int, np.ndarray]  # step times per node
    sweeps: int
    fifo_depth: int = 0  # deepest FIFO these times rely on (see `_Timer.fifo_need`)


def _last_of_step(consume: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(steps, token index) of the last token each consuming step takes; the token index
    is None when every token is taken by a step of its own (then it is every token).

    Arrivals along one stream increase with the token index, so the last token a step takes
    is the latest to arrive; `consume` never decreases (a Schedule invariant).
    """
    last = np.empty(len(consume), dtype=bool)
    np.not_equal(consume[1:], consume[:-1], out=last[:-1])
    last[-1:] = True
    if last.all():
        return consume, None
    tokens = np.flatnonzero(last)
    return consume[tokens], tokens


def step_times(
    ready: np.ndarray, ii: int, *, ramp: np.ndarray | None = None, overwrite: bool = False
) -> np.ndarray:
    """t[s] = max(t[s-1] + ii, ready[s]), t[-1] = -ii; that is s*ii + cummax(ready - s*ii).

    `ramp` (0, 1, 2, ... at least len(ready) long) saves building one per call;
    `overwrite` lets it compute in `ready`'s own memory (the caller no longer needs it)."""
    base = np.arange(len(ready), dtype=np.int64) if ramp is None else ramp[: len(ready)]
    if ii != 1:
        base = base * ii
    t = np.subtract(ready, base, out=ready if overwrite else None)
    if len(t):
        t[0] = max(t[0], 0)  # the running maximum carries the clamp to every later step
    np.maximum.accumulate(t, out=t)
    t += base
    return t


def memory_bound(schedule: Schedule, hbm: HbmModel) -> tuple[np.ndarray, np.ndarray]:
    """(steps that move words, earliest time of each): the w-th word of a primitive streams
    through the channels no sooner than start-up + ((w-1) // channels) * ii, plus latency."""
    per_step = np.bincount(schedule.memory, minlength=schedule.steps)
    words = np.cumsum(per_step)
    steps = np.flatnonzero(per_step)
    return steps, hbm.startup + (words[steps] - 1) // hbm.channels * hbm.ii + hbm.latency


def shared_memory_floor(run: GraphRun, hbm: HbmModel) -> int:
    """Cycles the graph's words need when all primitives share the channels."""
    words = sum(
        len(r.schedule.memory) for r in run.results.values() if r.schedule.memory is not None
    )
    return hbm.startup + -(-words // hbm.channels) * hbm.ii if words else 0


class _Timer:
    """Times of one graph run; `sweep` re-times nodes in a given order."""

    def __init__(self, run: GraphRun, fifo_depth: int, hbm: HbmModel | None) -> None:
        self.run = run
        self.depth = fifo_depth
        self.hbm = hbm
        self.nodes = list(run.graph.nodes)
        self.sched: dict[int, Schedule] = {n.id: run.results[n.id].schedule for n in self.nodes}
        self.port_index = {
            n.id: {name: q for q, (name, _) in enumerate(n.outputs)} for n in self.nodes
        }
        # consumers[(producer, out port)] = (consumer, in port)
        self.consumers: dict[tuple[int, int], tuple[int, int]] = {}
        for n in self.nodes:
            for p, (pid, port) in enumerate(n.inputs):
                self.consumers[(pid, self.port_index[pid][port])] = (n.id, p)
        # inputs that repeat an earlier input's arrivals and consumption add nothing to a
        # step's readiness: a joiner's crd and payload often come from one scanner and are
        # taken by the same steps (one shared array)
        self.inputs: dict[int, list[tuple[int, int, np.ndarray | None]]] = {}
        for n in self.nodes:
            seen: set[tuple[int, int, int]] = set()
            unique = []
            for p, (pid, port) in enumerate(n.inputs):
                q = self.port_index[pid][port]
                c = self.sched[n.id].consume[p]
                key = (pid, id(self.sched[pid].emit[q]), id(c))
                if key not in seen:
                    seen.add(key)
                    unique.append((pid, q, c))
            self.inputs[n.id] = unique
        last_of: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
        for inputs in self.inputs.values():
            for _, _, c in inputs:
                if c is not None and len(c) and id(c) not in last_of:
                    last_of[id(c)] = _last_of_step(c)
        self.last = last_of
        # without FIFO bounds one topological sweep sets every time before it is read
        self.times: dict[int, np.ndarray] = (
            {n.id: np.zeros(self.sched[n.id].steps, dtype=np.int64) for n in self.nodes}
            if fifo_depth > 0
            else {}
        )
        self.memory = {
            n.id: memory_bound(self.sched[n.id], hbm)
            for n in self.nodes
            if hbm is not None
            and self.sched[n.id].memory is not None
            and len(self.sched[n.id].memory)
        }
        self._by_id = {n.id: n for n in self.nodes}
        self.ramp = np.arange(
            max((sc.steps for sc in self.sched.values()), default=0), dtype=np.int64
        )
        # Arrivals along a stream rise by at least one per token, so a primitive with II 1
        # that takes one token of every input at every step (and is held back by nothing
        # else) runs exactly at the arrival times of its inputs.
        self.follows_inputs = {
            n.id
            for n in self.nodes
            if n.inputs
            and self.sched[n.id].ii == 1
            and fifo_depth == 0
            and n.id not in self.memory
            and all(c is None for c in self.sched[n.id].consume)
        }

    def arrival(self, pid: int, q: int, tokens: np.ndarray | None = None) -> np.ndarray:
        """Arrival times of output q's tokens (only those listed in `tokens`, if given)."""
        s = self.sched[pid]
        emit = s.emit[q]
        if tokens is not None:
            emit = tokens if emit is None else emit[tokens]
        t = self.times[pid] if emit is None else self.times[pid][emit]
        return t + s.latency

    def retime(self, node_id: int) -> bool:
        s = self.sched[node_id]
        ready = None
        for pid, q, consume in self.inputs[node_id]:
            if consume is None:
                arrival = self.arrival(pid, q)
                if ready is None:
                    ready = arrival
                else:
                    np.maximum(ready, arrival, out=ready)
                continue
            if id(consume) not in self.last:  # an empty input
                continue
            steps, tokens = self.last[id(consume)]
            arrival = self.arrival(pid, q, tokens)
            if ready is None:  # arrivals are never negative: no maximum with zero needed
                ready = np.zeros(s.steps, dtype=np.int64)
                ready[steps] = arrival
            else:
                ready[steps] = np.maximum(ready[steps], arrival)
        if ready is None:
            ready = np.zeros(s.steps, dtype=np.int64)
        if self.depth > 0:
            for q in range(len(s.emit)):
                cons = self.consumers.get((node_id, q))
                if cons is None:
                    continue
                cid, p = cons
                c = self.sched[cid].consume[p]
                taken = self.times[cid] if c is None else self.times[cid][c]
                if len(taken) > self.depth:
                    emit = steps_of(s.emit[q], len(taken))[self.depth :]
                    ready[emit] = np.maximum(ready[emit], taken[: len(taken) - self.depth])
        if node_id in self.memory:
            steps, bandwidth = self.memory[node_id]
            ready[steps] = np.maximum(ready[steps] + self.hbm.latency, bandwidth)
        if node_id in self.follows_inputs:
            new = ready  # already one step per cycle or slower: nothing to add
        else:
            # `ready` is this call's own array: it may become the times
            new = step_times(ready, s.ii, ramp=self.ramp, overwrite=True)
        # one topological sweep settles the times without FIFO bounds: nothing to compare
        changed = self.depth > 0 and not np.array_equal(new, self.times[node_id])
        self.times[node_id] = new
        return changed

    def fifo_need(self) -> int:
        """The smallest FIFO depth at which bounded FIFOs give these same times: the most
        tokens any stream has emitted and its consumer not yet taken. Token m may enter a
        FIFO of depth d only once the consumer took token m - d, so d >= m + 1 - (tokens
        taken by the time m is emitted).

        Emits are at least a cycle apart, so a FIFO never holds more tokens than the longest
        wait of one token in it (in cycles): edges are counted exactly only while that bound
        can beat the deepest found so far, longest waits first."""
        edges = []
        for (pid, q), (cid, p) in self.consumers.items():
            c = self.sched[cid].consume[p]
            n = len(self.run.inputs[cid][p])
            take = self.times[cid][:n] if c is None else self.times[cid][c]
            if not len(take):
                continue
            e = self.sched[pid].emit[q]
            emit = self.times[pid][:n] if e is None else self.times[pid][e]
            edges.append((int((take - emit).max()), take, emit))
        deepest = 0
        for wait, take, emit in sorted(edges, key=lambda edge: -edge[0]):
            if wait <= deepest:
                break
            n, span = len(take), int(take[-1]) + 1
            if span <= 4 * n:  # dense in time: count takes per cycle (linear, no search)
                taken = np.bincount(take, minlength=span)
                np.cumsum(taken, out=taken)
                taken = taken[np.minimum(emit, span - 1)]
            else:
                taken = np.searchsorted(take, emit, side="right")
            deepest = max(deepest, int((self.ramp[:n] + 1 - taken).max()))
        return deepest

    def settle(self) -> int:
        order = [n.id for n in self.nodes]
        if self.depth == 0:  # one topological sweep is exact
            for nid in order:
                self.retime(nid)
            return 1
        # without a deadlock some primitive acts at least every (latency + II) cycles
        slowest = max((s.latency + s.ii for s in self.sched.values()), default=1)
        if self.memory:
            slowest += self.hbm.startup + self.hbm.latency + self.hbm.ii
        horizon = slowest * sum(s.steps for s in self.sched.values())
        for sweep in range(1, MAX_SWEEPS + 1):
            moved = [nid for nid in order if self.retime(nid)]
            moved += [nid for nid in reversed(order) if self.retime(nid)]
            if not moved:
                return sweep
            where = f"graph {self.run.graph.name!r} around {self._by_id[moved[0]].label}"
            if max(int(t[-1]) for t in self.times.values() if len(t)) > horizon:
                raise SimulationError(
                    f"{where}: FIFOs of depth {self.depth} deadlock (a broadcast feeding"
                    " paths consumed at different times needs deeper FIFOs)"
                )
        raise SimulationError(
            f"{where}: backpressure times still rising after {MAX_SWEEPS} sweeps with FIFOs"
            f" of depth {self.depth} (a deadlock, or stalls too long to settle); use deeper"
            " FIFOs or fifo_depth = 0"
        )


def time_graph(run: GraphRun, fifo_depth: int = 0, hbm: HbmModel | None = None) -> GraphTiming:
    timer = _Timer(run, fifo_depth, hbm)
    sweeps = timer.settle()
    cycles = max((int(t[-1]) + 1 for t in timer.times.values() if len(t)), default=0)
    if hbm is not None:
        cycles = max(cycles, shared_memory_floor(run, hbm))
    return GraphTiming(cycles, timer.times, sweeps, timer.fifo_need())
