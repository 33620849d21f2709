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
from interpreter.sam.rules import Schedule

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


def _group_max(steps: int, consume: np.ndarray, arrival: np.ndarray) -> np.ndarray:
    """ready[s] = max arrival of the tokens consumed at step s (0 when none)."""
    ready = np.zeros(steps, dtype=np.int64)
    if not len(consume):
        return ready
    if len(consume) > 1 and (consume[1:] < consume[:-1]).any():
        np.maximum.at(ready, consume, arrival)
        return ready
    starts = np.flatnonzero(np.r_[True, consume[1:] != consume[:-1]])
    ready[consume[starts]] = np.maximum.reduceat(arrival, starts)
    return ready


def step_times(ready: np.ndarray, ii: int) -> np.ndarray:
    """t[s] = max(t[s-1] + ii, ready[s]), t[-1] = -ii."""
    base = np.arange(len(ready), dtype=np.int64) * ii
    return base + np.maximum.accumulate(np.maximum(ready - base, 0))


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

    def arrival(self, pid: int, q: int) -> np.ndarray:
        s = self.sched[pid]
        return self.times[pid][s.emit[q]] + s.latency

    def retime(self, node_id: int) -> bool:
        node = next(n for n in self.nodes if n.id == node_id) if False else self._by_id[node_id]
        s = self.sched[node_id]
        ready = np.zeros(s.steps, dtype=np.int64)
        for p, (pid, port) in enumerate(node.inputs):
            arr = self.arrival(pid, self.port_index[pid][port])
            np.maximum(ready, _group_max(s.steps, s.consume[p], arr), out=ready)
        if self.depth > 0:
            for q in range(len(s.emit)):
                cons = self.consumers.get((node_id, q))
                if cons is None:
                    continue
                cid, p = cons
                taken = self.times[cid][self.sched[cid].consume[p]]
                if len(taken) > self.depth:
                    bound = taken[: len(taken) - self.depth]
                    np.maximum.at(ready, s.emit[q][self.depth:], bound)
        self.issue[node_id] = step_times(ready, s.ii)
        if node_id in self.mem_bound:
            np.maximum(ready, self.mem_bound[node_id], out=ready)
        new = step_times(ready, s.ii)
        changed = not np.array_equal(new, self.times[node_id])
        self.times[node_id] = new
        return changed

    def settle(self) -> int:
        self._by_id = {n.id: n for n in self.nodes}
        order = [n.id for n in self.nodes]
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
