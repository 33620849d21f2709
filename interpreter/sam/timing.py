"""The timing pass: cycles from schedules, with numpy instead of a per-cycle loop.

Comal's model: every primitive has its own clock and performs one step per II cycles;
a step starts once the tokens it takes have arrived; what it emits arrives at the consumer
`latency` cycles later. So the time of step s is t[s] = max(t[s-1] + II, ready[s]), which
is s*II + cummax(ready - s*II): one `np.maximum.accumulate` per primitive.

Bounded FIFOs (depth d) add "the step emitting token m waits until the consumer took token
m - d"; forward and backward sweeps alternate until no time changes. The optional HBM model
delays a step until its memory words return from the channels (round-robin over channels,
each with its own II, latency and start-up); it is iterated to a fixpoint the same way.
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


def _raise_ready(ready: np.ndarray, consume: np.ndarray | None, arrival: np.ndarray) -> None:
    """ready[s] = max(ready[s], arrival of the tokens consumed at step s).

    Arrivals along one stream increase with the token index, so the last token a step takes
    is the latest; `consume` never decreases (a Schedule invariant).
    """
    if consume is None:
        np.maximum(ready, arrival, out=ready)
        return
    if not len(consume):
        return
    last = np.empty(len(consume), dtype=bool)
    np.not_equal(consume[1:], consume[:-1], out=last[:-1])
    last[-1] = True
    idx = consume[last]
    ready[idx] = np.maximum(ready[idx], arrival[last])


def step_times(ready: np.ndarray, ii: int) -> np.ndarray:
    """t[s] = max(t[s-1] + ii, ready[s]), t[-1] = -ii."""
    base = np.arange(len(ready), dtype=np.int64)
    if ii != 1:
        base *= ii
    t = ready - base
    np.maximum(t, 0, out=t)
    np.maximum.accumulate(t, out=t)
    t += base
    return t


class _Timer:
    """Times of one graph run; `sweep` re-times nodes in a given order."""

    def __init__(self, run: GraphRun, fifo_depth: int, hbm: HbmModel | None) -> None:
        self.run = run
        self.depth = fifo_depth
        self.hbm = hbm
        self.nodes = list(run.graph.nodes)
        self.sched: dict[int, Schedule] = {n.id: run.results[n.id].schedule for n in self.nodes}
        self.port_index = {n.id: {name: q for q, (name, _) in enumerate(n.outputs)}
                           for n in self.nodes}
        # consumers[(producer, out port)] = (consumer, in port)
        self.consumers: dict[tuple[int, int], tuple[int, int]] = {}
        for n in self.nodes:
            for p, (pid, port) in enumerate(n.inputs):
                self.consumers[(pid, self.port_index[pid][port])] = (n.id, p)
        self.times = {n.id: np.zeros(self.sched[n.id].steps, dtype=np.int64) for n in self.nodes}
        self.issue = {n.id: np.zeros(self.sched[n.id].steps, dtype=np.int64) for n in self.nodes}
        self.mem_bound: dict[int, np.ndarray] = {}
        self._by_id = {n.id: n for n in self.nodes}

    def arrival(self, pid: int, q: int) -> np.ndarray:
        s = self.sched[pid]
        t = self.times[pid] if s.emit[q] is None else self.times[pid][s.emit[q]]
        return t + s.latency

    def retime(self, node_id: int) -> bool:
        node = self._by_id[node_id]
        s = self.sched[node_id]
        ready = np.zeros(s.steps, dtype=np.int64)
        for p, (pid, port) in enumerate(node.inputs):
            _raise_ready(ready, s.consume[p], self.arrival(pid, self.port_index[pid][port]))
        if self.depth > 0:
            for q in range(len(s.emit)):
                cons = self.consumers.get((node_id, q))
                if cons is None:
                    continue
                cid, p = cons
                c = self.sched[cid].consume[p]
                taken = self.times[cid] if c is None else self.times[cid][c]
                if len(taken) > self.depth:
                    emit = steps_of(s.emit[q], len(taken))[self.depth:]
                    ready[emit] = np.maximum(ready[emit], taken[: len(taken) - self.depth])
        if node_id in self.mem_bound:
            new = step_times(np.maximum(ready, self.mem_bound[node_id]), s.ii)
        else:
            new = step_times(ready, s.ii)
        if self.hbm is not None:  # a step issues its words once its inputs and slot are there
            issue = ready.copy()
            np.maximum(issue[1:], new[:-1] + s.ii, out=issue[1:])
            self.issue[node_id] = issue
        changed = not np.array_equal(new, self.times[node_id])
        self.times[node_id] = new
        return changed

    def settle(self) -> int:
        order = [n.id for n in self.nodes]
        if self.depth == 0 and self.hbm is None:  # one topological sweep is exact
            for nid in order:
                self.retime(nid)
            return 1
        for sweep in range(1, MAX_SWEEPS + 1):
            changed = False
            for nid in order:
                changed |= self.retime(nid)
            if self.depth > 0:
                for nid in reversed(order):
                    changed |= self.retime(nid)
            if self.hbm is not None:
                changed |= self._memory()
            if not changed:
                return sweep
        raise SimulationError(
            f"graph {self.run.graph.name!r}: times still rising after {MAX_SWEEPS} sweeps;"
            f" FIFOs of depth {self.depth} deadlock this graph (a broadcast feeding two"
            " paths of very different delay needs deeper FIFOs)")

    def _memory(self) -> bool:
        """Assign every memory word to a channel in issue order; bound steps by returns."""
        hbm = self.hbm
        owners, steps_, issue = [], [], []
        for n in self.nodes:
            mem = self.sched[n.id].memory
            if mem is None or not len(mem):
                continue
            owners.append(np.full(len(mem), n.id))
            steps_.append(mem)
            issue.append(self.issue[n.id][mem])
        if not owners:
            return False
        owner, step, t = (np.concatenate(x) for x in (owners, steps_, issue))
        order = np.argsort(t, kind="stable")
        done = np.empty(len(t), dtype=np.int64)
        for ch in range(hbm.channels):
            idx = order[ch:: hbm.channels]
            if not len(idx):
                continue
            start = t[idx].copy()
            start[0] += hbm.startup
            done[idx] = step_times(start, hbm.ii) + hbm.latency
        changed = False
        for n in self.nodes:
            mask = owner == n.id
            if not mask.any():
                continue
            bound = self.mem_bound.get(n.id, np.zeros(self.sched[n.id].steps, dtype=np.int64))
            new = bound.copy()
            np.maximum.at(new, step[mask], done[mask])
            if not np.array_equal(new, bound):
                self.mem_bound[n.id] = new
                changed = True
        return changed


def time_graph(run: GraphRun, fifo_depth: int = 0, hbm: HbmModel | None = None) -> GraphTiming:
    timer = _Timer(run, fifo_depth, hbm)
    sweeps = timer.settle()
    cycles = max((int(t[-1]) + 1 for t in timer.times.values() if len(t)), default=0)
    return GraphTiming(cycles, timer.times, sweeps)
