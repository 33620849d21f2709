"""Cycles of one executed SAM graph, solved by the shared channel solver.

Comal's model: every primitive has its own clock and performs one step per II cycles; a
step starts once the tokens it takes have arrived; what it emits arrives at the consumer
`latency` cycles later. Each primitive is a unit of `interpreter.core.channels`, each edge a
channel whose emit / take steps come from the primitives' step plans
(`interpreter.sam.rules.StepPlan`); the solver knows no primitive.

Bounded FIFOs follow the public SAM simulator (weiya711/sam, `--back --depth d`): a
primitive stalls, whole, in any cycle after a consumer of one of its outputs saw more than
d tokens in that input's queue, and that consumer looks at its queue at its own update, one
cycle before the producer reads the answer. So step s of a producer may start only two
cycles after the consumer took token m(s) - d - 1, where m(s) counts the tokens the
producer emitted before step s: a credit channel beside each data channel, one credit per
token, placed at the step after the one that emitted the token before it (credit-only: it
bounds the producer and delays no consumer step). Write scanners
never stall their producers (SAM hard-codes that), so channels into writers have no
credits. SAM lets a primitive that stepped in the previous cycle step once more while its
own last token is still on the way to the consumer's queue; the credits are `lagged` for
that (see `interpreter.core.channels`).

The optional HBM model (Comal's channel parameters) makes a step that moves memory words
wait `latency` cycles after its inputs arrived (the request's round trip), and no earlier
than its own words can stream through the channels (`channels` words every `ii` cycles
after the start-up). Channels shared between primitives are accounted for at graph level:
a graph takes at least start-up + (all its words / channels) * ii cycles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from dsl.sam.ir import Node
from interpreter.core.channels import ChannelDeadlock, ChannelNetwork, Wait
from interpreter.errors import SimulationError
from interpreter.sam.costs import Cost, cost_of
from interpreter.sam.execute import GraphRun
from interpreter.sam.rules import StepPlan

WRITERS = frozenset({"write_level", "write_vals"})


@dataclass
class HbmModel:
    channels: int = 8
    latency: int = 2
    ii: int = 2
    startup: int = 14


@dataclass
class GraphTiming:
    cycles: int
    times: dict[int, np.ndarray]  # start cycle of every step, per node
    costs: dict[int, Cost]  # per node
    fifo_depth: int = 0  # deepest FIFO these times rely on (see `fifo_need`)
    edges: list[_Edge] = field(default_factory=list)  # what they were solved on (`_edges`)
    # every step's start, node by node in the graph's order (`times` are views of it)
    start: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def memory_bound(plan: StepPlan, hbm: HbmModel) -> tuple[np.ndarray, np.ndarray]:
    """(steps that move words, earliest time of each): the w-th word of a primitive streams
    through the channels no sooner than start-up + ((w-1) // channels) * ii, plus latency."""
    per_step = np.bincount(plan.memory, minlength=plan.steps)
    words = np.cumsum(per_step)
    steps = np.flatnonzero(per_step)
    return steps, hbm.startup + (words[steps] - 1) // hbm.channels * hbm.ii + hbm.latency


def shared_memory_floor(run: GraphRun, hbm: HbmModel) -> int:
    """Cycles the graph's words need when all primitives share the channels."""
    words = sum(len(r.plan.memory) for r in run.results.values() if r.plan.memory is not None)
    return hbm.startup + -(-words // hbm.channels) * hbm.ii if words else 0


@dataclass(frozen=True)
class _Edge:
    producer: Node
    consumer: Node
    index: int  # input position at the consumer
    emit: np.ndarray
    take: np.ndarray
    one_per_step: tuple[bool, bool]  # token m is emitted / taken by step m (the plan's None)

    @cached_property
    def credit(self) -> np.ndarray:
        """Per token, the producer step its credit binds (`_credit_steps`): worked out once
        for the solve, the FIFO need and the critical path."""
        return self.emit if self.one_per_step[0] else _credit_steps(self.emit)


def _edges(run: GraphRun) -> list[_Edge]:
    """Every edge with its per-token emit and take steps; an input that repeats an earlier
    input's producer, emits and takes (a joiner's crd and ref from one scanner) is left out,
    since it adds no bound. Token m at step m (the plan's None) is a read-only view of one
    `arange` shared by the graph's edges, not an array each."""
    by_id = {n.id: n for n in run.graph.nodes}
    longest = max((len(s.ctl) for streams in run.inputs.values() for s in streams), default=0)
    identity = np.arange(longest, dtype=np.int64)
    identity.flags.writeable = False
    edges = []
    for node in run.graph.nodes:
        seen = set()
        for p, port in enumerate(node.inputs):
            pid, q = port.node, port.index
            producer = by_id[pid]
            emit, take = run.results[pid].plan.emit[q], run.results[node.id].plan.consume[p]
            key = (pid, id(emit), id(take))
            if key in seen:
                continue
            seen.add(key)
            n = len(run.inputs[node.id][p].ctl)
            plain = (emit is None, take is None)
            emit, take = (identity[:n] if a is None else a for a in (emit, take))
            edges.append(_Edge(producer, node, p, emit, take, plain))
    return edges


def _credit_steps(emit: np.ndarray) -> np.ndarray:
    """Step of each credit: credit m binds the step after the one that emitted token m - 1
    (a step emits at most one token per output, so that is never after token m's own).
    When step m emits token m, credit m binds step m: `emit` itself."""
    return np.concatenate([emit[:1], emit[:-1] + 1])


def time_graph(run: GraphRun, fifo_depth: int = 0, hbm: HbmModel | None = None) -> GraphTiming:
    """Start cycle of every step of every primitive; cycles until the last one ends."""
    nodes = list(run.graph.nodes)
    net = ChannelNetwork()
    unit = {}
    memory_steps: dict[int, np.ndarray] = {}
    costs = {n.id: cost_of(n, run.results[n.id].outputs) for n in nodes}
    for node in nodes:
        plan = run.results[node.id].plan
        release = None
        if hbm is not None and plan.memory is not None and len(plan.memory):
            steps, bandwidth = memory_bound(plan, hbm)
            release = np.zeros(plan.steps)
            release[steps] = bandwidth
            memory_steps[node.id] = steps
        ii = float(costs[node.id].ii)
        unit[node.id] = net.add_unit(node.label(), ii, release, steps=plan.steps)
    edges = _edges(run)
    for e in edges:
        latency = float(costs[e.producer.id].latency)
        if e.consumer.id in memory_steps:  # the request's round trip follows the inputs
            latency = np.full(len(e.take), latency)
            moves = np.zeros(run.results[e.consumer.id].plan.steps, dtype=bool)
            moves[memory_steps[e.consumer.id]] = True
            latency[moves[e.take]] += hbm.latency  # type: ignore[union-attr]
        name = f"{e.producer.label()} -> {e.consumer.label()} input {e.index}"
        u, v = unit[e.producer.id], unit[e.consumer.id]
        # token m at step m is said with None: the solver then reads no array for it
        # (both None means one token per step of the producer: only when that is so)
        every_step = len(e.emit) == run.results[e.producer.id].plan.steps
        emit = None if e.one_per_step[0] else e.emit
        take = None if e.one_per_step[1] and (emit is not None or every_step) else e.take
        net.add_channel(name, u, v, emit, take, latency=latency)
        if fifo_depth > 0 and e.consumer.op not in WRITERS:
            credit = None if emit is None else e.credit  # (m at m stays so)
            net.add_channel(
                f"{name} (room)", u, v, credit, take,
                depth=fifo_depth + 1, offset=2.0, lagged=True, credit_only=True,
            )  # fmt: skip
    try:
        timeline = net.solve()
    except ChannelDeadlock as exc:
        waits = " -> ".join(_describe(w) for w in exc.cycle)
        raise SimulationError(
            f"graph {run.graph.name!r}: FIFOs of depth {fifo_depth} deadlock: {waits}"
            f" -> back to {exc.cycle[0].unit}"
        ) from None
    start = timeline.flat.astype(np.int64)  # (units were added in node order)
    off = timeline.step_off.tolist()
    times = {n.id: start[off[unit[n.id]] : off[unit[n.id] + 1]] for n in nodes}
    cycles = max((int(t[-1]) + 1 for t in times.values() if len(t)), default=0)
    if hbm is not None:
        cycles = max(cycles, shared_memory_floor(run, hbm))
    need = fifo_need(edges, times, costs, fifo_depth)
    return GraphTiming(cycles, times, costs, need, edges, start)


def _describe(wait: Wait) -> str:
    if wait.full:
        return f"{wait.unit} (step {wait.step}) waits until {wait.other} takes token {wait.token}"
    return f"{wait.unit} (step {wait.step}) waits for token {wait.token} from {wait.other}"


def fifo_need(
    edges: list[_Edge], times: dict[int, np.ndarray], costs: dict[int, Cost], fifo_depth: int = 0
) -> int:
    """The smallest FIFO depth at which SAM's bounded FIFOs give these same times (of the
    graph whose `_edges` are given, so they are built once per timing). Credit m
    of an edge, at step s, asks that the consumer took m - d tokens 2 cycles before s
    starts, or, when s follows the step before it back to back, before step s + 1 starts
    (the lagged rule). Channels into writers hold no credits.

    Tokens leave a primitive at least a cycle apart, so an edge needs at most its longest
    wait of a token (in cycles) plus one: edges are counted exactly, longest waits first,
    only while that bound can beat the deepest found so far. Times solved with FIFOs of
    depth `fifo_depth` (0: unbounded) need at most that: reaching it ends the count."""
    waits = []
    for e in edges:
        if e.consumer.op in WRITERS or len(e.emit) < 2:
            continue
        taken = _at(times[e.consumer.id], e.take, e.one_per_step[1])
        wait = int((taken - _at(times[e.producer.id], e.emit, e.one_per_step[0])).max())
        waits.append((wait, e, taken))
    deepest = 0
    binds: dict[int, np.ndarray] = {}  # per producer, shared by the edges out of it
    for wait, e, taken in sorted(waits, key=lambda edge: -edge[0]):
        if wait + 1 <= deepest or deepest == fifo_depth > 0:
            break
        if e.producer.id not in binds:
            binds[e.producer.id] = _binding(times[e.producer.id], costs[e.producer.id].ii)
        binding = binds[e.producer.id][e.credit]
        deepest = max(deepest, int((np.arange(len(binding)) - _count_upto(taken, binding)).max()))
    return deepest


def _at(times: np.ndarray, steps: np.ndarray, one_per_step: bool) -> np.ndarray:
    """`times[steps]`, a view when token m is at step m."""
    return times[: len(steps)] if one_per_step else times[steps]


def _binding(start: np.ndarray, ii: int) -> np.ndarray:
    """Per step of a producer, by when a credit placed at that step must have been taken
    (the consumer's step start): 2 cycles before the step starts, or before the next one
    starts when the step follows the one before it back to back (no next step: no bound)."""
    back_to_back = np.zeros(len(start), dtype=bool)
    back_to_back[1:] = start[1:] == start[:-1] + ii
    after = np.append(start[1:], np.iinfo(np.int64).max)
    return np.where(back_to_back, after, start) - 2


def _count_upto(times: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """How many of `times` (non-decreasing) are <= each limit: by counting per cycle when
    the times are dense, else by binary search."""
    span = int(times[-1]) + 1
    if span > 4 * len(times):
        return np.searchsorted(times, limits, side="right")
    per_cycle = np.bincount(times, minlength=span)
    np.cumsum(per_cycle, out=per_cycle)
    counts = per_cycle[np.clip(limits, 0, span - 1)]
    counts[limits < 0] = 0
    return counts
