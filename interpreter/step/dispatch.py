"""Dynamic parallelization with feedback: `dispatch` and `free_signal`, semantics and cost.

The STeP paper parallelizes attention decode by sending each request to whichever region
is free first: a first wave goes round-robin, then every region that finishes a request
sends a "free" token back, the tokens are merged in arrival order, and each one routes the
next request to the region that sent it. `dispatch` is that router and `free_signal` the
merge of the free tokens; together they close a cycle in the graph.

Which region gets a chunk is decided by time, which only the timing pass knows. As with
`eager_merge`, the simulator iterates (`sim.run_timed`): after each timing pass,
`signal_times` measures every chunk's *service time* (from the signal that sent it to its
own signal: the region's work plus the loop's latencies), and the next functional pass
routes by replaying the dispatcher on those times (`first_free`: each chunk goes to the
region whose predicted signal comes first). The passes repeat until the times no longer
change, i.e. the routing is the one the signals' arrival order gives. Any routing is a
legal schedule of the same hardware: the dispatcher waits for the very signal it routes by
(a channel from free_signal to dispatch, `costs.Feedback`), so a routing that is not yet
first-free is slower, never faster, and every region computes exactly the chunks it was
sent.

Cost: a dispatch moves one item per cycle (like `partition`) and spends
`DECISION_CYCLES` more on the first item of every chunk after the first wave (taking the
free token and switching the route); free_signal takes one signal per cycle, and its token
reaches the dispatcher one cycle later.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from dsl.step.ir import Node, Program
from interpreter.errors import ExecutionError
from interpreter.step.costs import CostEnv, Feedback, OpEvents, cost_rule, parents
from interpreter.step.event_times import EventTimes
from interpreter.step.routing import chunk_ranges, gather_chunks
from interpreter.step.semantics import RunContext, semantics
from interpreter.step.streams import StreamData

MAX_DISPATCH_ROUNDS = 32
"""Functional + timing rounds the simulator allows a program with a dispatch loop (8 for
eager_merge alone): each round settles at least the routing up to the first chunk whose
signal came out of order. Paper batches of 64 requests settle in 6-20 rounds; a loop
still unsettled after this many is timed as last routed (a legal, slower schedule)."""

DECISION_CYCLES = 1.0
"""Cycles a dispatcher spends per routing decision after the first wave: it pops the free
token and switches its output (the paper's Partition charges one switch cycle per chunk)."""


@dataclass(frozen=True)
class Dispatched:
    """dispatch: the region every chunk went to, the region of every free signal in the
    order the dispatcher takes them (a region's j-th signal is for its j-th chunk), and the
    free_signal node closing the loop."""

    region: np.ndarray
    order: np.ndarray
    closer: int


@dataclass(frozen=True)
class Signals:
    """free_signal: the region of every signal in the order the dispatcher takes them."""

    order: np.ndarray


def has_dispatch(program: Program) -> bool:
    return any(n.op == "dispatch" for n in program.nodes)


def closer_of(program: Program, dispatch_id: int) -> int:
    """The free_signal node that closes `dispatch_id`'s loop (validation ensures one)."""
    for n in program.nodes:
        if n.op == "free_signal" and n.attrs["dispatch"] == dispatch_id:
            return n.id
    raise ExecutionError(f"node {dispatch_id}: no free_signal closes this dispatch's loop")


def first_free(
    chunks: int, regions: int, service: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Route `chunks` chunks over `regions`: returns (region of every chunk, region of every
    free signal in the order they come). The first wave goes 0, 1, ...; then each chunk goes
    to the region whose signal comes first (ties: the lower region, as the merge breaks
    them). A chunk's signal comes `service[k]` cycles after the signal that sent it (after 0
    for the first wave), as last measured; with no measurement yet, the region waiting
    longest signals first (round-robin)."""
    region = np.zeros(chunks, np.int64)
    wave = min(chunks, regions)
    region[:wave] = np.arange(wave)
    known = service is not None and len(service) == chunks
    # (time of the signal, region, chunk) of every chunk sent and not yet signalled
    pending = [(float(service[k]) if known else float(k), k, k) for k in range(wave)]
    heapq.heapify(pending)
    order = np.zeros(chunks, np.int64)
    for m in range(chunks):
        t, r, _ = heapq.heappop(pending)
        order[m] = r
        k = regions + m
        if k < chunks:
            region[k] = r
            heapq.heappush(pending, (t + float(service[k]) if known else float(k), r, k))
    return region, order


@semantics("dispatch")
def _dispatch(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    b, n = node.attrs["rank"], node.attrs["num_consumers"]
    chunked = [chunk_ranges(x, b) for x in ins]
    chunks = len(chunked[0][0])
    for j, (items, _) in enumerate(chunked):
        if len(items) != chunks:
            raise ExecutionError(
                f"{node.label()}: input {j} has {len(items)} chunks but input 0 has {chunks}"
            )
    closer = closer_of(ctx.program, node.id)
    region, order = first_free(chunks, n, ctx.merge_order.get(closer))
    outs = [
        gather_chunks(x, b, items, values, np.flatnonzero(region == i).tolist())
        for i in range(n)
        for x, (items, values) in zip(ins, chunked, strict=True)
    ]
    ctx.facts[node.id] = Dispatched(region, order, closer)
    return outs


@semantics("free_signal")
def _free_signal(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    order = ctx.facts[node.attrs["dispatch"]].order  # the dispatch runs first
    for i, x in enumerate(ins):
        sent = int((order == i).sum())
        if x.n_values != sent or x.n_items != x.n_values:
            raise ExecutionError(
                f"{node.label()}: region {i} signalled {x.n_values} times for the {sent} chunks"
                " it was sent (one free signal per chunk)"
            )
    ctx.facts[node.id] = Signals(order)
    return []


def signal_times(program: Program, ctx: RunContext, times: EventTimes) -> dict[int, np.ndarray]:
    """Per free_signal node: every chunk's service time in the timed run, from the arrival
    of the signal that sent it (0 for the first wave) to the arrival of its own signal.
    The next functional pass routes by these (`first_free`).

    Converged (the times the run used are returned unchanged, which ends `run_timed`'s
    loop) when replaying the dispatcher on the measured times gives the routing that was
    run: then every chunk went to the region whose signal arrived first. Otherwise, while
    some chunk was served faster than the time used, the lower time is kept (a routing
    that made a region wait inflates its times; keeping the least converges in a few
    rounds); else the measured times are used as they are."""
    out = {}
    for node in program.nodes:
        fact = ctx.facts.get(node.id)
        if node.op != "dispatch" or not isinstance(fact, Dispatched):
            continue
        closer = program.nodes[fact.closer]
        chunks, regions = len(fact.region), node.attrs["num_consumers"]
        signal = np.zeros(chunks)
        for r, port in enumerate(closer.inputs):
            signal[np.flatnonzero(fact.region == r)] = times.arrival[port]
        sent_at = np.zeros(chunks)  # when the signal that sent each chunk arrived
        unsignalled = [list(np.flatnonzero(fact.region == r)) for r in range(regions)]
        for m, r in enumerate(fact.order.tolist()):
            done = unsignalled[r].pop(0)  # signal m is for region r's oldest open chunk
            if regions + m < chunks:
                sent_at[regions + m] = signal[done]
        measured = signal - sent_at
        used = ctx.merge_order.get(closer.id)
        if used is not None and len(used) == chunks:
            if np.array_equal(first_free(chunks, regions, measured)[0], fact.region):
                measured = used  # the routing is first-free on its own times: converged
            elif (measured < used).any():
                measured = np.minimum(used, measured)  # time lost to blocking is not the chunk's
        out[closer.id] = measured
    return out


@cost_rule("dispatch")
def _dispatch_cost(env: CostEnv) -> OpEvents:
    """Events: the items of every chunk, chunk by chunk, input by input (one per cycle); the
    first item of every chunk after the first wave takes the next free token."""
    fact = env.fact(Dispatched)
    b, n, per = env.node.attrs["rank"], env.node.attrs["num_consumers"], len(env.ins)
    chunk_of, port_of, item_of = [], [], []
    for j, x in enumerate(env.ins):
        if b == 0:  # a bare stop rides with the next value
            c = np.minimum(np.cumsum(x.has_value) - x.has_value, max(x.n_values - 1, 0))
        else:
            c = parents(x.stop, b)
        chunk_of.append(c)
        port_of.append(np.full(x.n_items, j))
        item_of.append(np.arange(x.n_items))
    chunk, port, item = (np.concatenate(a) for a in (chunk_of, port_of, item_of))
    events = np.lexsort((item, port, chunk))  # event e handles (port, item)[events[e]]
    event_of = np.empty(len(events), np.int64)
    event_of[events] = np.arange(len(events))
    starts = np.cumsum([0] + [x.n_items for x in env.ins])
    cons = [event_of[starts[j] : starts[j + 1]] for j in range(per)]
    prod = []
    for i in range(n):
        for j, x in enumerate(env.ins):
            mine = fact.region[chunk_of[j]] == i if len(fact.region) else chunk_of[j] < 0
            if b == 0:
                mine &= x.has_value  # partition drops bare stops at rank 0
            prod.append(cons[j][mine])
    cost = np.ones(len(events))
    chunk_sorted = chunk[events]
    first = (
        np.flatnonzero(np.r_[True, chunk_sorted[1:] != chunk_sorted[:-1]]) if len(events) else []
    )
    decisions = np.asarray(first, np.int64)[n:]
    cost[decisions] += DECISION_CYCLES
    feedback = Feedback(fact.closer, np.arange(len(decisions)), decisions)
    return OpEvents(cost, cons, prod, bound=np.zeros(len(events), int), feedback=feedback)


@cost_rule("free_signal")
def _free_signal_cost(env: CostEnv) -> OpEvents:
    """One event per signal, in the order the dispatcher takes them; event m sends free
    token m."""
    order = env.fact(Signals).order
    cons = [np.flatnonzero(order == i) for i in range(len(env.ins))]
    return OpEvents(np.ones(len(order)), cons, [], bound=np.zeros(len(order), int))
