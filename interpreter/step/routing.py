"""Functional semantics of the routing ops: partition, reassemble, eager_merge (and, in
`dispatch.py`, dispatch and free_signal).

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
from interpreter.step.streams import LazyTiles, StreamData, chunk_value_ranges, vconcat, vtake


def chunk_ranges(x: StreamData, b: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
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


def gather_chunks(
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


def _bounds(x: StreamData, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(item start, item end, value start, value end) of every chunk of rank b, as arrays."""
    if b == 0:
        pos = np.flatnonzero(x.has_value).astype(np.int64)
        vals = np.arange(len(pos), dtype=np.int64)
        return pos, pos + 1, vals, vals + 1
    starts, ends, end_items = chunk_value_ranges(x, b)
    end_items = end_items.astype(np.int64)
    item_start = np.concatenate([[0], end_items[:-1] + 1]) if len(end_items) else end_items
    return item_start.astype(np.int64), end_items + 1, starts, ends


def _interleave(
    xs: list[StreamData],
    bounds: list[tuple[np.ndarray, ...]],
    port: np.ndarray,
    chunk: np.ndarray,
    end_stop: np.ndarray,
) -> tuple[StreamData, ItemSources, np.ndarray]:
    """Concatenate pieces in order, in one vectorised gather: piece k is chunk `chunk[k]` of
    input `port[k]` with its last stop set to `end_stop[k]`, or a bare stop when port is -1.

    Returns the stream, where each of its items came from (-1 for bare stops) and the first
    output item of every piece. Per-chunk slicing here was most of a sweep's routing time.
    """
    n_ports = len(xs)
    real = port >= 0
    p = np.where(real, port, 0)
    c = np.where(real, chunk, 0)

    def per_piece(col: int) -> np.ndarray:
        out = np.zeros(len(port), dtype=np.int64)
        for i in range(n_ports):
            mine = real & (port == i)
            out[mine] = bounds[i][col][c[mine]]
        return out

    i_start, i_end, v_start, v_end = (per_piece(k) for k in range(4))
    lengths = np.where(real, i_end - i_start, 1)
    first = np.cumsum(lengths) - lengths
    total = int(lengths.sum())
    # global item index into all inputs' items laid end to end (+ one bare slot at the end)
    item_base = np.cumsum([0] + [x.n_items for x in xs])
    bare_slot = int(item_base[-1])
    local = np.repeat(i_start - first, lengths) + np.arange(total, dtype=np.int64)
    piece_port = np.repeat(np.where(real, port, -1), lengths)
    is_real = piece_port >= 0
    glob = np.where(is_real, item_base[np.maximum(piece_port, 0)] + local, bare_slot)
    all_stop = np.concatenate([x.stop for x in xs] + [np.zeros(1, np.int8)])
    all_has = np.concatenate([x.has_value for x in xs] + [np.zeros(1, bool)])
    stop = all_stop[glob]
    has = all_has[glob]
    stop[first + lengths - 1] = end_stop
    sources = ItemSources(
        np.where(is_real, piece_port, -1).astype(np.int64),
        np.where(is_real, local, -1).astype(np.int64),
    )
    v_len = np.where(real, v_end - v_start, 0)
    v_first = np.cumsum(v_len) - v_len
    value_base = np.cumsum([0] + [x.n_values for x in xs])
    gv = np.repeat(value_base[p] + v_start - v_first, v_len) + np.arange(
        int(v_len.sum()), dtype=np.int64
    )
    values = _take(vconcat([x.values for x in xs], xs[0].values), gv)
    return StreamData(stop, has, values), sources, first


def _take(values: object, idx: np.ndarray) -> object:
    """`vtake` without its size guard: the result is never larger than the inputs' values."""
    if isinstance(values, tuple):
        return tuple(_take(v, idx) for v in values)
    if isinstance(values, np.ndarray | LazyTiles):
        return values[idx]
    return [values[i] for i in idx.tolist()]


def _selectors(s: StreamData, n: int) -> np.ndarray:
    return np.asarray(s.values, dtype=bool).reshape(s.n_values, n)


@semantics("partition")
def _partition(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    x, sel = ins
    b, n = node.attrs["rank"], node.attrs["num_consumers"]
    items, values = chunk_ranges(x, b)
    chosen = _selectors(sel, n)
    if len(items) != len(chosen):
        raise ExecutionError(
            f"{node.label()}: x has {len(items)} chunks but sel has {len(chosen)} selectors"
        )
    return [
        gather_chunks(x, b, items, values, np.flatnonzero(chosen[:, i]).tolist()) for i in range(n)
    ]


@semantics("reassemble")
def _reassemble(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    xs, sel = ins[:-1], ins[-1]
    b = node.attrs["rank"]
    bounds = [_bounds(x, b) for x in xs]
    n_chunks = [len(bd[0]) for bd in bounds]
    cursor = [0] * len(xs)
    # each selector's chosen inputs, in order: one slice of the nonzeros per selector (a
    # Python scan of every selector's flags costs ~1 us per expert per token)
    rows, cols = np.nonzero(_selectors(sel, len(xs)))
    firsts = np.searchsorted(rows, np.arange(sel.n_values + 1)).tolist()
    cols = cols.tolist()
    port: list[int] = []
    chunk: list[int] = []
    end_stop: list[int] = []
    sel_piece = np.zeros(sel.n_items, dtype=np.int64)
    j = 0
    for pos, (sel_stop, has) in enumerate(
        zip(sel.stop.tolist(), sel.has_value.tolist(), strict=True)
    ):
        sel_piece[pos] = len(port)
        picked = cols[firsts[j] : firsts[j + 1]] if has else []
        j += int(has)
        if not picked:
            port.append(-1)
            chunk.append(0)
            end_stop.append(b + 1 + sel_stop)
            continue
        for i in picked:
            if cursor[i] >= n_chunks[i]:
                raise ExecutionError(
                    f"{node.label()}: input {i} ran out of chunks "
                    f"(protocol mismatch with the selector)"
                )
            port.append(i)
            chunk.append(cursor[i])
            end_stop.append(b)
            cursor[i] += 1
        end_stop[-1] = b + 1 + sel_stop
    for i in range(len(xs)):
        if cursor[i] != n_chunks[i]:
            raise ExecutionError(
                f"{node.label()}: input {i} has {n_chunks[i]} chunks "
                f"but the selector chose it {cursor[i]} times"
            )
    out, sources, first = _interleave(
        xs, bounds, np.array(port, np.int64), np.array(chunk, np.int64), np.array(end_stop, np.int8)
    )
    ctx.facts[node.id] = Reassembled(sources, first[sel_piece] if len(port) else sel_piece)
    return [out]


@semantics("eager_merge")
def _eager_merge(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    b = node.attrs["rank"]
    chunked = [chunk_ranges(x, b) for x in ins]
    counts = [len(c[0]) for c in chunked]
    order = ctx.merge_order.get(node.id)
    if (
        order is None
        or len(order) != sum(counts)
        or any((order == i).sum() != c for i, c in enumerate(counts))
    ):
        order = round_robin(counts)
    ctx.merge_order[node.id] = order
    chunk = np.zeros(len(order), dtype=np.int64)
    for i in range(len(ins)):
        mine = order == i
        chunk[mine] = np.arange(int(mine.sum()))
    bounds = [_bounds(x, b) for x in ins]
    data, sources, first = _interleave(
        ins, bounds, order.astype(np.int64), chunk, np.full(len(order), b, np.int8)
    )
    ctx.facts[node.id] = Merged(sources, first, chunked)
    sel = np.zeros((len(order), len(ins)), dtype=bool)
    sel[np.arange(len(order)), order] = True
    return [data, StreamData(np.zeros(len(order), np.int8), np.ones(len(order), bool), sel)]


def round_robin(counts: list[int]) -> np.ndarray:
    """Chunk order taking one chunk from each input in turn (before arrival times exist)."""
    keys = [(k, i) for i, c in enumerate(counts) for k in range(c)]
    return np.array([i for _, i in sorted(keys)], dtype=np.int64)


# dispatch and free_signal (dynamic parallelization with feedback) register themselves here
from interpreter.step import dispatch  # noqa: E402, F401
