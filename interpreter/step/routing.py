"""Functional semantics of the routing ops: partition, reassemble, eager_merge.

`eager_merge` takes its chunk order from the context: the arrival order found by the
timing pass, round-robin before any timing exists. Reassemble and eager_merge also record
where every output item came from (`ctx.facts`), which their cost rules need.
"""

from __future__ import annotations

import numpy as np

from dsl.step.ir import Node
from interpreter.errors import ExecutionError
from interpreter.step.facts import ItemSources, Merged, Reassembled
from interpreter.step.semantics import RunContext, semantics
from interpreter.step.streams import StreamData, chunk_value_ranges, vconcat, vtake


def _chunks(x: StreamData, b: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Item and value ranges [start, end) of every chunk of rank b (b = 0: value items)."""
    if b == 0:
        pos = np.flatnonzero(x.has_value)
        vals = np.arange(len(pos))
        return ([(p, p + 1) for p in pos.tolist()], [(v, v + 1) for v in vals.tolist()])
    starts, ends, end_items = chunk_value_ranges(x, b)
    item_start = np.concatenate([[0], end_items[:-1] + 1]) if len(end_items) else end_items
    return (
        list(zip(item_start.tolist(), (end_items + 1).tolist(), strict=True)),
        list(zip(starts.tolist(), ends.tolist(), strict=True)),
    )


def _gather_chunks(
    x: StreamData,
    b: int,
    items: list[tuple[int, int]],
    values: list[tuple[int, int]],
    pick: list[int],
) -> StreamData:
    """The chosen chunks concatenated into a rank-b stream."""
    if not pick:
        return StreamData(
            np.zeros(0, np.int8), np.zeros(0, bool), vtake(x.values, np.zeros(0, dtype=np.int64))
        )
    item_idx = np.concatenate([np.arange(*items[i]) for i in pick])
    value_idx = np.concatenate([np.arange(*values[i]) for i in pick]).astype(np.int64)
    stop = x.stop[item_idx].copy()
    ends = np.cumsum([items[i][1] - items[i][0] for i in pick]) - 1
    stop[ends] = b
    return StreamData(stop, x.has_value[item_idx].copy(), vtake(x.values, value_idx))


def _selectors(s: StreamData, n: int) -> np.ndarray:
    return np.asarray(s.values, dtype=bool).reshape(s.n_values, n)


@semantics("partition")
def _partition(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    x, sel = ins
    b, n = node.attrs["rank"], node.attrs["num_consumers"]
    items, values = _chunks(x, b)
    chosen = _selectors(sel, n)
    if len(items) != len(chosen):
        raise ExecutionError(
            f"{node.label()}: x has {len(items)} chunks but sel has {len(chosen)} selectors"
        )
    return [
        _gather_chunks(x, b, items, values, np.flatnonzero(chosen[:, i]).tolist()) for i in range(n)
    ]


@semantics("reassemble")
def _reassemble(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    xs, sel = ins[:-1], ins[-1]
    b = node.attrs["rank"]
    chunked = [_chunks(x, b) for x in xs]
    cursor = [0] * len(xs)
    chosen = _selectors(sel, len(xs))
    stops: list[np.ndarray] = []
    flags: list[np.ndarray] = []
    parts: list[object] = []
    src_port: list[np.ndarray] = []
    src_item: list[np.ndarray] = []
    sel_cons = np.zeros(sel.n_items, dtype=np.int64)
    n_out = 0
    j = 0
    for pos, (sel_stop, has) in enumerate(
        zip(sel.stop.tolist(), sel.has_value.tolist(), strict=True)
    ):
        sel_cons[pos] = n_out
        picked = np.flatnonzero(chosen[j]).tolist() if has else []
        j += int(has)
        if not picked:
            stops.append(np.array([b + 1 + sel_stop], np.int8))
            flags.append(np.zeros(1, bool))
            src_port.append(np.array([-1]))
            src_item.append(np.array([-1]))
            n_out += 1
            continue
        for k, i in enumerate(picked):
            if cursor[i] >= len(chunked[i][0]):
                raise ExecutionError(
                    f"{node.label()}: input {i} ran out of chunks "
                    f"(protocol mismatch with the selector)"
                )
            item_range = chunked[i][0][cursor[i]]
            chunk = _gather_chunks(xs[i], b, *chunked[i], [cursor[i]])
            cursor[i] += 1
            if k == len(picked) - 1:
                chunk.stop[-1] = b + 1 + sel_stop
            stops.append(chunk.stop)
            flags.append(chunk.has_value)
            parts.append(chunk.values)
            src_port.append(np.full(len(chunk.stop), i))
            src_item.append(np.arange(*item_range))
            n_out += len(chunk.stop)
    for i in range(len(xs)):
        if cursor[i] != len(chunked[i][0]):
            raise ExecutionError(
                f"{node.label()}: input {i} has {len(chunked[i][0])} chunks "
                f"but the selector chose it {cursor[i]} times"
            )
    stop = np.concatenate(stops) if stops else np.zeros(0, np.int8)
    has = np.concatenate(flags) if flags else np.zeros(0, bool)
    ctx.facts[node.id] = Reassembled(_sources(src_port, src_item), sel_cons)
    return [StreamData(stop, has, vconcat(parts, xs[0].values))]


def _sources(ports: list[np.ndarray], items: list[np.ndarray]) -> ItemSources:
    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    return ItemSources(cat(ports), cat(items))


@semantics("eager_merge")
def _eager_merge(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    b = node.attrs["rank"]
    chunked = [_chunks(x, b) for x in ins]
    counts = [len(c[0]) for c in chunked]
    order = ctx.merge_order.get(node.id)
    if (
        order is None
        or len(order) != sum(counts)
        or any((order == i).sum() != c for i, c in enumerate(counts))
    ):
        order = round_robin(counts)
    ctx.merge_order[node.id] = order
    cursor = [0] * len(ins)
    parts, ports, items, firsts = [], [], [], []
    n_out = 0
    for i in order.tolist():
        item_range = chunked[i][0][cursor[i]]
        parts.append(_gather_chunks(ins[i], b, *chunked[i], [cursor[i]]))
        cursor[i] += 1
        ports.append(np.full(len(parts[-1].stop), i))
        items.append(np.arange(*item_range))
        firsts.append(n_out)
        n_out += len(parts[-1].stop)
    ctx.facts[node.id] = Merged(_sources(ports, items), np.array(firsts, dtype=np.int64), chunked)
    stop = np.concatenate([p.stop for p in parts]) if parts else np.zeros(0, np.int8)
    has = np.concatenate([p.has_value for p in parts]) if parts else np.zeros(0, bool)
    data = StreamData(stop, has, vconcat([p.values for p in parts], ins[0].values))
    sel = np.zeros((len(order), len(ins)), dtype=bool)
    sel[np.arange(len(order)), order] = True
    return [data, StreamData(np.zeros(len(order), np.int8), np.ones(len(order), bool), sel)]


def round_robin(counts: list[int]) -> np.ndarray:
    """Chunk order taking one chunk from each input in turn (before arrival times exist)."""
    keys = [(k, i) for i, c in enumerate(counts) for k in range(c)]
    return np.array([i for _, i in sorted(keys)], dtype=np.int64)
