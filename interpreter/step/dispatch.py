"""Dynamic parallelization with feedback: `dispatch` and `free_signal`, semantics and cost.

The STeP paper parallelizes attention decode by sending each request to whichever region
is free first: a first wave goes round-robin, then every region that finishes a request
sends a "free" token back, the tokens are merged in arrival order, and each one routes the
next request to the region that sent it. `dispatch` is that router and `free_signal` the
merge of the free tokens; together they close a cycle in the graph.

Which region gets a chunk is decided by time, which only the timing pass knows. As with
`eager_merge`, the simulator iterates (`sim.run_timed`): the functional pass routes by the
signal order the previous timing pass observed (`RunContext.merge_order` under the
free_signal's id; round-robin before any timing exists), the timing pass times that routing,
and the passes repeat until the observed order is the one routed by. Any order is a legal
schedule of the same hardware: the dispatcher waits for the signal it routes by (a channel
from free_signal to dispatch, `costs.Feedback`), so a not-yet-converged order is slower,
never faster, and every region computes exactly the chunks it was sent.

Cost: a dispatch moves one item per cycle (like `partition`) and spends
`DECISION_CYCLES` more on the first item of every chunk after the first wave (taking the
free token and switching the route); free_signal takes one signal per cycle, and its token
reaches the dispatcher one cycle later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsl.step.ir import Node, Program
from interpreter.errors import ExecutionError
from interpreter.step.costs import CostEnv, Feedback, OpEvents, cost_rule, parents
from interpreter.step.facts import ItemSources, Merged
from interpreter.step.routing import chunk_ranges, gather_chunks
from interpreter.step.semantics import RunContext, semantics
from interpreter.step.streams import StreamData

DECISION_CYCLES = 1.0
"""Cycles a dispatcher spends per routing decision after the first wave: it pops the free
token and switches its output (the paper's Partition charges one switch cycle per chunk)."""


@dataclass(frozen=True)
class Dispatched:
    """dispatch: the region every chunk went to, and the free_signal node closing the loop."""

    region: np.ndarray
    closer: int


def closer_of(program: Program, dispatch_id: int) -> int:
    """The free_signal node that closes `dispatch_id`'s loop (validation ensures one)."""
    for n in program.nodes:
        if n.op == "free_signal" and n.attrs["dispatch"] == dispatch_id:
            return n.id
    raise ExecutionError(f"node {dispatch_id}: no free_signal closes this dispatch's loop")


def first_free(chunks: int, regions: int, seen: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Route `chunks` chunks over `regions`: returns (region of every chunk, order of all the
    free signals). The first wave goes 0, 1, ...; chunk regions + m goes to the region of
    the m-th signal. The signal order follows `seen` (the arrival order the simulator
    observed) as far as it is possible — a region signals only for a chunk it was sent;
    elsewhere the region waiting longest signals first (round-robin when nothing is seen)."""
    region = np.zeros(chunks, np.int64)
    wave = min(chunks, regions)
    region[:wave] = np.arange(wave)
    outstanding = [[k] for k in range(wave)] + [[] for _ in range(regions - wave)]
    order = np.zeros(chunks, np.int64)
    for m in range(chunks):
        r = int(seen[m]) if seen is not None and m < len(seen) else -1
        if not (0 <= r < regions and outstanding[r]):
            r = min((q for q in range(regions) if outstanding[q]), key=lambda q: outstanding[q][0])
        order[m] = r
        outstanding[r].pop(0)
        k = regions + m
        if k < chunks:
            region[k] = r
            outstanding[r].append(k)
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
    ctx.merge_order[closer] = order
    ctx.facts[node.id] = Dispatched(region, closer)
    return [
        gather_chunks(x, b, items, values, np.flatnonzero(region == i).tolist())
        for i in range(n)
        for x, (items, values) in zip(ins, chunked, strict=True)
    ]


@semantics("free_signal")
def _free_signal(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    order = ctx.merge_order[node.id]  # set by the dispatch, which runs first
    for i, x in enumerate(ins):
        sent = int((order == i).sum())
        if x.n_values != sent or x.n_items != x.n_values:
            raise ExecutionError(
                f"{node.label()}: region {i} signalled {x.n_values} times for the {sent} chunks"
                " it was sent (one free signal per chunk)"
            )
    item = np.zeros(len(order), np.int64)
    for i in range(len(ins)):
        mine = order == i
        item[mine] = np.arange(int(mine.sum()))
    chunked = [chunk_ranges(x, 0) for x in ins]
    ctx.facts[node.id] = Merged(ItemSources(order.copy(), item), np.arange(len(order)), chunked)
    return []


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
            mine = fact.region[chunk_of[j]] == i
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
    """One event per signal, in the merged (arrival) order; event m sends free token m."""
    fact = env.fact(Merged)
    k = len(fact.sources.port)
    cons = []
    for i in range(len(env.ins)):
        events = np.flatnonzero(fact.sources.port == i)
        cons.append(events[np.argsort(fact.sources.item[events], kind="stable")])
    return OpEvents(np.ones(k), cons, [], bound=np.zeros(k, int))
