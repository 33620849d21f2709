"""Functional semantics of every STeP op, registered by op name.

Each rule maps the input streams of one node to its output streams (`StreamData`:
stop levels, bare-stop flags, values), whole streams at a time. Off-chip ops read and
write through the `RunContext`. The routing ops (partition, reassemble, eager_merge) live
in `routing.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from dsl.core import spec
from dsl.step.ir import Node, Program
from dsl.step.limits import MAX_INT
from dsl.step.ops import OPS, tile_grid
from dsl.step.symbolic import Expr
from dsl.step.types import StreamType, Tile
from interpreter.errors import ExecutionError
from interpreter.step.facts import ExpandOwners, Fact, PaddedSlots
from interpreter.step.functions import IMPLS
from interpreter.step.streams import (
    MAX_ITEMS,
    BufferData,
    LazyTiles,
    StreamData,
    TileGrid,
    check_same_structure,
    chunk_value_ranges,
    multi_index,
    nest,
    nest_runs,
    nest_uniform,
    regular,
    regular_stops,
    vconcat,
    vstack,
    vtake,
)


@dataclass
class RunContext:
    program: Program
    inputs: dict[str, np.ndarray]
    dims: dict[str, int]
    merge_order: dict[int, np.ndarray] = field(default_factory=dict)
    written: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    facts: dict[int, Fact] = field(default_factory=dict)  # node -> what its cost rule needs
    _grids: dict[tuple[str, tuple[int, int]], TileGrid] = field(default_factory=dict)

    def value(self, e: Expr, node: Node, what: str) -> int:
        v = e.evaluate(self.dims)
        if v is None:
            raise ExecutionError(f"{node.label()}: {what} {e} has no value at run time")
        if abs(v) > MAX_INT:
            raise ExecutionError(f"{node.label()}: {what} {e} = {v} is out of range")
        return v

    def shape(self, dims: tuple[Expr, ...], node: Node, what: str) -> tuple[int, ...]:
        return tuple(self.value(d, node, what) for d in dims)

    def grid(self, name: str, tile: tuple[int, int]) -> TileGrid:
        """The input tensor cut into zero-padded tiles: [n_tiles, rows, cols]."""
        key = (name, tile)
        if key not in self._grids:
            x = np.asarray(self.inputs[name])
            x = x.astype(
                np.int64
                if np.issubdtype(x.dtype, np.integer)
                else np.bool_
                if x.dtype == np.bool_
                else np.float32,
                copy=False,
            )
            self._grids[key] = to_tiles(x, tile)
        return self._grids[key]


def to_tiles(x: np.ndarray, tile: tuple[int, int]) -> TileGrid:
    if x.ndim == 1:
        x = x[None, :]
    tr, tc = tile
    *lead, r, c = x.shape
    gr, gc = -(-r // tr), -(-c // tc)
    padded = x  # edge tiles are zero-padded (only then is a padded copy needed)
    if (gr * tr, gc * tc) != (r, c):
        padded = np.zeros(tuple(lead) + (gr * tr, gc * tc), dtype=x.dtype)
        padded[..., :r, :c] = x
    t = padded.reshape(tuple(lead) + (gr, tr, gc, tc))
    return TileGrid(np.moveaxis(t, -3, -2))


def from_tiles(grid: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of `to_tiles`, cropped to `shape`."""
    shape2 = (1,) + shape if len(shape) == 1 else shape
    *lead, r, c = shape2
    _, tr, tc = grid.shape
    gr, gc = -(-r // tr), -(-c // tc)
    t = grid.reshape(tuple(lead) + (gr, gc, tr, tc))
    t = np.moveaxis(t, -2, -3).reshape(tuple(lead) + (gr * tr, gc * tc))
    return t[..., :r, :c].reshape(shape)


def in_type(ctx: RunContext, node: Node, i: int = 0) -> StreamType:
    """Declared type of input i of `node`."""
    port = node.inputs[i]
    return ctx.program.node(port.node).outputs[port.index]


Rule = Callable[[Node, list[StreamData], RunContext], list[StreamData]]
SEMANTICS: dict[str, Rule] = {}
OPS.attach(spec.SEMANTICS, SEMANTICS)  # the registry walk finds every op's semantics here


def semantics(name: str) -> Callable[[Rule], Rule]:
    def register(rule: Rule) -> Rule:
        SEMANTICS[name] = rule
        return rule

    return register


def _affine_indices(
    shape: tuple[int, ...], stride: tuple[int, ...] | None, base: int
) -> np.ndarray:
    regular_stops(shape)  # refuses negative and oversized shapes before allocating
    if stride is None:
        stride = tuple(int(np.prod(shape[i + 1 :])) for i in range(len(shape)))
    idx = np.full(shape, base, dtype=np.int64)
    for k, (n, s) in enumerate(zip(shape, stride, strict=True)):
        view = [1] * len(shape)
        view[k] = n
        idx = idx + (np.arange(n, dtype=np.int64) * s).reshape(view)
    return idx.reshape(-1)


SMALL_PATTERN = 1 << 16
"""Reads of at most this many tiles have their pattern made once (`_read_pattern`)."""


@lru_cache(maxsize=1024)
def _read_pattern(
    shape: tuple[int, ...], stride: tuple[int, ...] | None, base: int, nested: bool
) -> tuple[np.ndarray, int, int, np.ndarray, np.ndarray | None]:
    """A small read's tile indices (`_affine_indices`), their least and greatest, and the
    stops and value flags (None: all values) of `regular(shape, nested)`, all read-only:
    a MoE layer's hundreds of weight loads ask a few patterns, on every run."""
    idx = _affine_indices(shape, stride, base)
    sub = regular(shape, None, nested=nested)
    has = None if sub.has_value.all() else sub.has_value
    for a in (idx, sub.stop, sub.has_value):
        a.setflags(write=False)
    lo, hi = (int(idx.min()), int(idx.max())) if len(idx) else (0, -1)
    return idx, lo, hi, sub.stop, has


def _check_bounds(node: Node, idx: np.ndarray, limit: int, what: str) -> None:
    if len(idx) and (idx.min() < 0 or idx.max() >= limit):
        bad = int(idx[(idx < 0) | (idx >= limit)][0])
        raise ExecutionError(f"{node.label()}: {what} index {bad} is outside 0..{limit - 1}")


def _nested_read(
    node: Node, ref: StreamData | None, shape: tuple[int, ...], per_ref: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stops, flags and element indices of `shape` read once, or once per ref value."""
    if ref is None:
        sub = regular(shape, None)
        return sub.stop, sub.has_value, per_ref
    sub = regular(shape, None, nested=True)
    stop, has = nest_uniform(ref, sub.stop, len(shape) - 1, sub.has_value)
    if len(stop) > MAX_ITEMS:
        raise ExecutionError(f"{node.label()}: {len(stop)} items is more than the limit")
    return stop, has, np.tile(per_ref, ref.n_values)


# --- off-chip memory -------------------------------------------------------------------------
@semantics("linear_offchip_load")
def _linear_load(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    a = node.attrs
    t = ctx.program.tensors[a["tensor"]]
    grid = ctx.grid(t.name, a["tile"])
    if a["shape"] is not None:
        shape = ctx.shape(a["shape"], node, "shape")
    else:
        shape = ctx.shape(tile_grid(t.shape, a["tile"]), node, "tile grid")
    stride = ctx.shape(a["stride"], node, "stride") if a["stride"] is not None else None
    base = ctx.value(a["base"], node, "base")
    ref = ins[0] if ins else None
    if len(shape) == 0 or _items(shape) > SMALL_PATTERN:
        idx = _affine_indices(shape, stride, base)
        _check_bounds(node, idx, len(grid), f"tile of {t.name!r}")
        stop, has, addr = _nested_read(node, ref, shape, idx)
        return [StreamData(stop, has, LazyTiles(grid, addr))]
    idx, lo, hi, sub_stop, sub_has = _read_pattern(shape, stride, base, ref is not None)
    if lo < 0 or hi >= len(grid):
        _check_bounds(node, idx, len(grid), f"tile of {t.name!r}")
    if ref is None:
        has = np.ones(len(sub_stop), dtype=bool) if sub_has is None else sub_has.copy()
        return [StreamData(sub_stop.copy(), has, LazyTiles(grid, idx))]
    stop, has = nest_uniform(ref, sub_stop, len(shape) - 1, sub_has)
    if len(stop) > MAX_ITEMS:
        raise ExecutionError(f"{node.label()}: {len(stop)} items is more than the limit")
    n = ref.n_values
    addr = np.full(n, idx[0], dtype=np.int64) if len(idx) == 1 else np.tile(idx, n)
    return [StreamData(stop, has, LazyTiles(grid, addr))]


def _items(shape: tuple[int, ...]) -> int:
    """Items of a regular read of `shape` (Python ints: no overflow)."""
    n = 1
    for d in shape:
        n *= max(d, 1)
    return n


def _store(node: Node, ctx: RunContext, x: StreamData, addr: np.ndarray) -> list[StreamData]:
    t = ctx.program.tensors[node.attrs["tensor"]]
    elem = in_type(ctx, node).elem
    assert isinstance(elem, Tile)
    tile = (elem.rows.value, elem.cols.value)
    shape = ctx.shape(t.shape, node, "output shape")
    n_tiles = int(np.prod(ctx.shape(tile_grid(t.shape, tile), node, "tile grid")))
    _check_bounds(node, addr, n_tiles, f"tile of {t.name!r}")
    values = vstack(x.values)
    if values is None or values.shape[1:] != tile:
        raise ExecutionError(f"{node.label()}: stores need [{tile[0]}, {tile[1]}] tiles")
    grid = np.zeros((n_tiles,) + tile, dtype=np.float64)
    mask = np.zeros((n_tiles,) + tile, dtype=bool)
    grid[addr] = values
    mask[addr] = True
    full, written = from_tiles(grid, shape), from_tiles(mask, shape)
    if t.name in ctx.written:
        old_full, old_mask = ctx.written[t.name]
        full = np.where(written, full, old_full)
        written = written | old_mask
    ctx.written[t.name] = (full, written)
    return []


@semantics("linear_offchip_store")
def _linear_store(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    x = ins[0]
    base = ctx.value(node.attrs["base"], node, "base")
    if node.attrs["stride"] is None:
        addr = base + np.arange(x.n_values, dtype=np.int64)
    else:
        stride = np.array(ctx.shape(node.attrs["stride"], node, "stride"), dtype=np.int64)
        rank = len(stride) - 1
        addr = base + multi_index(x, rank) @ stride
    return _store(node, ctx, x, addr)


@semantics("random_offchip_load")
def _random_load(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    t = ctx.program.tensors[node.attrs["tensor"]]
    grid = ctx.grid(t.name, node.attrs["tile"])
    addr = (
        np.asarray(vstack(ins[0].values)).reshape(-1).astype(np.int64)
        if ins[0].n_values
        else np.zeros(0, dtype=np.int64)
    )
    _check_bounds(node, addr, len(grid), f"tile of {t.name!r}")
    return [StreamData(ins[0].stop, ins[0].has_value, LazyTiles(grid, addr))]


@semantics("random_offchip_store")
def _random_store(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    check_same_structure(ins, node.label())
    addr = (
        np.asarray(vstack(ins[1].values)).reshape(-1).astype(np.int64)
        if ins[1].n_values
        else np.zeros(0, dtype=np.int64)
    )
    return _store(node, ctx, ins[0], addr)


# --- on-chip memory ----------------------------------------------------------------------------
@semantics("bufferize")
def _bufferize(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    x, b = ins[0], node.attrs["rank"]
    starts, ends, end_items = chunk_value_ranges(x, b)
    item_start = np.concatenate([[0], end_items[:-1] + 1]) if len(end_items) else end_items
    buffers = []
    for i0, i1, v0, v1 in zip(
        item_start.tolist(), end_items.tolist(), starts.tolist(), ends.tolist(), strict=True
    ):
        stop = x.stop[i0 : i1 + 1].copy()
        stop[-1] = b - 1
        has = x.has_value[i0 : i1 + 1]
        if not has.any():
            stop, has = stop[:0], has[:0]
        buffers.append(BufferData(StreamData(stop, has, vtake(x.values, np.arange(v0, v1)))))
    return [
        StreamData(
            (x.stop[end_items] - b).astype(np.int8), np.ones(len(end_items), dtype=bool), buffers
        )
    ]


@semantics("streamify")
def _streamify(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    refs = ins[0]
    buf_rank = len(in_type(ctx, node).elem.shape) - 1
    a = node.attrs
    subs, flags, parts = [], [], []
    for buf in refs.values:
        data = buf.data
        if a["shape"] is None and a["stride"] is None:
            stop = data.stop.copy()
            if len(stop):
                stop[-1] = buf_rank + 1
            subs.append(stop)
            flags.append(data.has_value)
            parts.append(data.values)
            continue
        shape = ctx.shape(a["shape"], node, "shape")
        stride = ctx.shape(a["stride"], node, "stride") if a["stride"] is not None else None
        idx = _affine_indices(shape, stride, 0)
        _check_bounds(node, idx, data.n_values, "buffer element")
        sub = regular(shape, None, nested=True)
        subs.append(sub.stop)
        flags.append(sub.has_value)
        parts.append(vtake(data.values, idx))
    out_rank = buf_rank if a["shape"] is None else len(a["shape"]) - 1
    stop, has = nest(refs, subs, out_rank, flags)
    like = refs.values[0].data.values if refs.n_values else np.zeros((0, 1, 1), np.float32)
    return [StreamData(stop, has, vconcat(parts, like))]


# --- higher-order ------------------------------------------------------------------------------
def _fn_args(ins: list[StreamData], node: Node) -> list[object]:
    if len(ins) > 1:
        check_same_structure(ins, node.label())
    if len(ins) == 1 and isinstance(ins[0].values, tuple):
        return list(ins[0].values)
    return [x.values for x in ins]


def _empty_tile_shape(node: Node) -> tuple[int, int] | None:
    elem = node.outputs[0].elem
    if isinstance(elem, Tile) and elem.is_static:
        return (elem.rows.value, elem.cols.value)
    return None


def _empty_values(node: Node) -> object:
    """An empty value container of the node's output element type."""
    shape = _empty_tile_shape(node)
    return np.zeros((0,) + shape, np.float32) if shape is not None else []


@semantics("map")
def _map(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    fref = node.attrs["fn"]
    args = _fn_args(ins, node)
    if ins[0].n_values == 0:
        out = _empty_values(node)
    else:
        out = IMPLS[f"map:{fref.name}"].apply(args, dict(fref.args))
    return [StreamData(ins[0].stop, ins[0].has_value, out)]


@semantics("accum")
def _accum(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    fref, b = node.attrs["fn"], node.attrs["rank"]
    args = _fn_args(ins, node)
    x = ins[0]
    if x.n_items == 0:  # no chunk (an expert no token was routed to, say)
        return [StreamData(np.zeros(0, np.int8), np.zeros(0, bool), _empty_values(node))]
    starts, ends, end_items = chunk_value_ranges(x, b)
    if len(starts) == 0:
        out = _empty_values(node)
    else:
        out = IMPLS[f"accum:{fref.name}"].apply(
            args, starts, ends, dict(fref.args), _empty_tile_shape(node)
        )
    return [
        StreamData(
            (x.stop[end_items] - b).astype(np.int8), np.ones(len(end_items), dtype=bool), out
        )
    ]


@semantics("scan")
def _scan(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    fref, b = node.attrs["fn"], node.attrs["rank"]
    args = _fn_args(ins, node)
    x = ins[0]
    restart = np.concatenate([[0], (x.stop[:-1] >= b)]) if x.n_items else np.zeros(0, int)
    seg = np.cumsum(restart)[x.has_value]
    out = (
        IMPLS[f"scan:{fref.name}"].apply(args, seg, dict(fref.args))
        if x.n_values
        else _empty_values(node)
    )
    return [StreamData(x.stop, x.has_value, out)]


@semantics("flat_map")
def _flat_map(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    fref = node.attrs["fn"]
    args = _fn_args(ins, node)
    x = ins[0]
    sub_rank = len(node.outputs[0].shape) - len(in_type(ctx, node).shape) - 1
    if x.n_values == 0:
        lengths, values = np.zeros(0, np.int64), _empty_values(node)
    else:
        lengths, values = IMPLS[f"flat_map:{fref.name}"].apply(args, dict(fref.args))
    stop, has = nest_runs(x, lengths, sub_rank)
    return [StreamData(stop, has, values)]


# --- shape ops ---------------------------------------------------------------------------------
@semantics("flatten")
def _flatten(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    x = ins[0]
    lo, hi = node.attrs["min_dim"], node.attrs["max_dim"]
    s = x.stop.astype(np.int16)
    new = np.where(s <= lo, s, np.where(s <= hi, lo, s - (hi - lo))).astype(np.int8)
    keep = x.has_value | (new > 0)  # a bare stop that vanished was an empty inner run
    return [StreamData(new[keep], x.has_value[keep], x.values)]


@semantics("reshape")
def _reshape(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    x = ins[0]
    c, k = node.attrs["chunk"], node.attrs["dim"]
    if x.n_items == 0 and not node.attrs["pad"]:  # nothing to regroup
        return [StreamData(np.zeros(0, np.int8), x.has_value, x.values)]
    s = x.stop.astype(np.int16)
    elems = x.has_value if k == 0 else (s >= k)
    run_end = s >= k + 1
    # position of each element within its run of dim k
    cum = np.cumsum(elems)
    run_start_cum = np.maximum.accumulate(
        np.where(np.concatenate([[True], run_end[:-1]]), cum - elems, 0)
    )
    pos = cum - run_start_cum  # 1-based for element items
    boundary = elems & (pos % c == 0) & (s == k)
    new = np.where(s >= k + 1, s + 1, s)
    new = np.where(boundary, k + 1, new)
    rank = in_type(ctx, node).rank
    if k == rank and len(new):  # the stream's end also ends the new outer dim
        new[-1] = rank + 1
        run_end[-1] = True
    if not node.attrs["pad"]:
        return [StreamData(new.astype(np.int8), x.has_value, x.values)]
    return _pad_last_chunks(node, x, new, x.has_value & run_end, pos, ctx)


def _pad_last_chunks(
    node: Node, x: StreamData, new: np.ndarray, ends: np.ndarray, pos: np.ndarray, ctx: RunContext
) -> list[StreamData]:
    """reshape(pad=True): after the last element of every run whose length is not a
    multiple of the chunk, insert zero tiles up to the chunk (the last one takes the run's
    stop); a second stream flags the inserted tiles."""
    c = node.attrs["chunk"]
    need = np.where(ends & (pos % c != 0), c - pos % c, 0).astype(np.int64)
    at = np.arange(x.n_items) + np.concatenate([[0], np.cumsum(need)[:-1]])  # output slots
    n_out = x.n_items + int(need.sum())
    if n_out > MAX_ITEMS:
        raise ExecutionError(
            f"{node.label()}: padding to chunks of {c} makes {n_out} items "
            f"(limit {MAX_ITEMS}); use a smaller chunk"
        )
    stop = np.zeros(n_out, np.int8)
    stop[at] = np.where(need > 0, 0, new)
    stop[(at + need)[need > 0]] = new[need > 0]
    has = np.ones(n_out, dtype=bool)
    has[at] = x.has_value
    is_pad = np.ones(n_out, dtype=bool)
    is_pad[at] = False
    real = np.full(n_out, -1, np.int64)
    real[at[x.has_value]] = np.arange(x.n_values)
    elem = in_type(ctx, node).elem
    values = x.values
    if need.any():
        idx = real[has]
        idx[idx < 0] = x.n_values  # the appended zero tile
        base = vstack(values)
        zero = np.zeros((1, elem.rows.value, elem.cols.value), base.dtype)
        values = vtake(np.concatenate([base, zero]), idx)
    flags = is_pad[has].astype(np.int64).reshape(-1, 1, 1)
    ctx.facts[node.id] = PaddedSlots(at)
    return [StreamData(stop, has, values), StreamData(stop.copy(), has.copy(), flags)]


@semantics("promote")
def _promote(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    x = ins[0]
    rank = in_type(ctx, node).rank
    k = rank + 1 if node.attrs["dim"] is None else node.attrs["dim"]
    s = x.stop.astype(np.int16)
    new = np.where(s >= k, s + 1, s) if k > 0 else s + 1
    if len(new):
        new[-1] = rank + 1
    return [StreamData(new.astype(np.int8), x.has_value, x.values)]


@semantics("expand")
def _expand(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    x, ref = ins
    ref_rank = len(node.outputs[0].shape) - 1
    x_shape = in_type(ctx, node).shape
    kept = len(x_shape)
    while kept > 1 and x_shape[kept - 1] == 1:
        kept -= 1
    if kept == 1 and x_shape[0] == 1:
        kept = 0
    level = ref_rank + 1 - kept  # x's elements span ref chunks of this rank
    if level == 0:
        owner = np.arange(ref.n_values)
    else:
        ends = (
            np.flatnonzero(ref.stop >= level)
            if level <= ref_rank
            else np.array([ref.n_items - 1])
            if ref.n_items
            else np.zeros(0, np.int64)
        )
        chunk_of_item = np.searchsorted(ends, np.arange(ref.n_items))
        owner = chunk_of_item[ref.has_value]
        n_chunks = len(ends)
        if n_chunks != x.n_values:
            raise ExecutionError(
                f"{node.label()}: ref has {n_chunks} groups but x has {x.n_values} elements"
            )
    ctx.facts[node.id] = ExpandOwners(_owner_of_items(ref, level, ref_rank))
    if level == 0 and ref.n_values != x.n_values:
        raise ExecutionError(
            f"{node.label()}: ref has {ref.n_values} elements but x has {x.n_values}"
        )
    return [StreamData(ref.stop, ref.has_value, vtake(x.values, owner.astype(np.int64)))]


def _owner_of_items(ref: StreamData, level: int, ref_rank: int) -> np.ndarray:
    """For every ref item, the index of the x element it repeats (bare stops: the next)."""
    if level == 0:
        return np.minimum(np.cumsum(ref.has_value) - ref.has_value, max(ref.n_values - 1, 0))
    if level > ref_rank:
        return np.zeros(ref.n_items, dtype=np.int64)
    closes = (ref.stop >= level).astype(np.int64)
    return np.concatenate([[0], np.cumsum(closes)[:-1]]) if ref.n_items else closes


@semantics("repeat")
def _repeat(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    x = ins[0]
    n = ctx.value(node.attrs["count"], node, "count")
    if n < 0:
        raise ExecutionError(f"{node.label()}: count {n} is negative")
    if x.n_values * n > MAX_ITEMS:
        raise ExecutionError(f"{node.label()}: {x.n_values * n} items is more than the limit")
    if x.n_items == 0 and n <= MAX_ITEMS:  # nothing to repeat (a larger count is refused)
        none = np.zeros(0, np.int64)
        return [StreamData(np.zeros(0, np.int8), np.zeros(0, bool), vtake(x.values, none))]
    sub = regular((n,), None, nested=True)
    stop, has = nest_uniform(x, sub.stop, 0, sub.has_value)
    return [StreamData(stop, has, vtake(x.values, np.repeat(np.arange(x.n_values), n)))]


@semantics("zip")
def _zip(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    check_same_structure(ins, node.label())
    parts: list[object] = []
    for x in ins:
        parts.extend(x.values if isinstance(x.values, tuple) else [x.values])
    return [StreamData(ins[0].stop, ins[0].has_value, tuple(parts))]


@semantics("copy")
def _copy(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    return [ins[0]] * node.attrs["n"]


@semantics("sink")
def _sink(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    return []


@semantics("assume_shape")
def _assume_shape(node: Node, ins: list[StreamData], ctx: RunContext) -> list[StreamData]:
    return [ins[0]]  # the claim is checked with every output shape by the runner


# the routing ops register themselves in SEMANTICS on import (kept in their own module)
from interpreter.step import routing  # noqa: E402, F401
