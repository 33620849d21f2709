"""Concrete streams as arrays, and the stop-token arithmetic every op is built from.

A stream is a sequence of *items*. An item is a value followed by its stop level
(`stop = 0`: no stop; `k`: the stop token S_k follows), or a *bare* stop with no value
(`has_value = False`), which is how empty runs appear: `1 S1 S1 2 S2` is the items
(1, S1), (bare, S1), (2, S2). Done is implicit after the last item. A bare S_k closes one
empty innermost run and every level below k with it (so an inner dim can be empty only at
the innermost level; an empty *stream* has no items).

Values live in one container per stream (see below), holding the value items in order.
This is the token model of the paper with each stop fused to the value before it, as the
reference simulator does, so the timing pass can treat items as the unit of transfer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain

import numpy as np

from interpreter.errors import ExecutionError

# A stream's values ("Values" below): an ndarray stacked on axis 0 (tiles of one shape,
# selectors), `LazyTiles` (tiles still in their off-chip grid), a list (dynamic tiles of
# differing shapes, buffers), or a tuple of those (zipped streams).


@dataclass
class BufferData:
    """An on-chip buffer: the stream of the tiles it holds (rank = buffered dims - 1)."""

    data: StreamData


@dataclass
class StreamData:
    stop: np.ndarray  # int8 [n_items]
    has_value: np.ndarray  # bool [n_items]
    values: object  # Values of the value items, in order
    # bytes of every item by element type (`costs.item_sizes`), filled as they are asked for
    sizes: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_items(self) -> int:
        return len(self.stop)

    @property
    def n_values(self) -> int:
        return vlen(self.values)

    @cached_property
    def value_shapes(self) -> np.ndarray:
        """`tile_shapes` of the values (not zipped ones), read-only and computed once: the
        shape check, the op that emits the stream and every op that takes it all ask, and
        for dynamic tiles it is a loop over every tile."""
        shapes = tile_shapes(self.values)
        shapes.setflags(write=False)
        return shapes


MAX_STACK_BYTES = 1 << 31
MAX_ITEMS = 20_000_000  # items of one stream the interpreter will build


class TileGrid:
    """An off-chip tensor as its [n_tiles, rows, cols] tiles, numbered row-major over the
    tile grid, without a copy of the tensor: a read-only view [*lead, grid rows, grid cols,
    rows, cols] of it, gathered only where a tile is read. (Cut into tiles by copying, a
    MoE layer's three weights cost each run 192 MiB of fresh memory.)"""

    __slots__ = ("view", "shape")

    def __init__(self, view: np.ndarray) -> None:
        view.flags.writeable = False  # tiles read from it must never change the tensor
        self.view = view
        self.shape = (int(np.prod(view.shape[:-2])),) + view.shape[-2:]

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: int | np.integer | np.ndarray) -> np.ndarray:
        """One tile (a view) for an int; the stacked tiles for an index array: a view when
        they are a run of consecutive tiles along one grid axis (an expert's weight tiles,
        read in order: a MoE sweep otherwise copies some 500 MiB of them), else a copy."""
        if isinstance(key, np.ndarray) and len(key) > 1:
            run = self._run(key)
            if run is not None:
                return run
        return self.view[np.unravel_index(key, self.view.shape[:-2])]

    def _run(self, key: np.ndarray) -> np.ndarray | None:
        """The tiles `key` as a read-only view, if they are consecutive and differ only in
        one grid axis (every grid axis after it has length 1); else None."""
        grid = self.view.shape[:-2]
        first, last = int(key[0]), int(key[-1])
        if last - first + 1 != len(key) or not (key[1:] - key[:-1] == 1).all():
            return None
        lo, hi = np.unravel_index(first, grid), np.unravel_index(last, grid)
        k = next(i for i, (a, b) in enumerate(zip(lo, hi, strict=True)) if a != b)
        if any(d != 1 for d in grid[k + 1 :]):
            return None
        at = tuple(int(i) for i in lo)
        return self.view[at[:k] + (slice(at[k], int(hi[k]) + 1),) + at[k + 1 :]]


class LazyTiles:
    """Tiles read from an off-chip grid, kept as (grid, tile indices) until needed, so a
    weight re-read a thousand times costs an index array, not a thousand copies."""

    __slots__ = ("grid", "idx")

    def __init__(self, grid: TileGrid | np.ndarray, idx: np.ndarray) -> None:
        self.grid, self.idx = grid, idx

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, key: object) -> object:
        if isinstance(key, int | np.integer):
            return self.grid[self.idx[key]]
        return LazyTiles(self.grid, self.idx[key])

    def __iter__(self):
        return (self.grid[i] for i in self.idx.tolist())

    def materialize(self) -> np.ndarray:
        nbytes = len(self.idx) * self.grid[0].nbytes if len(self.grid) else 0
        if nbytes > MAX_STACK_BYTES:
            raise ExecutionError(
                f"a stream of {len(self.idx)} tiles ({nbytes >> 20} MiB) is "
                f"too large for the interpreter; use larger tiles or fewer "
                f"re-reads"
            )
        return self.grid[self.idx]


# --- value containers ----------------------------------------------------------------------
def vlen(values: object) -> int:
    if isinstance(values, tuple):
        return vlen(values[0])
    return len(values)


def vtake(values: object, idx: np.ndarray) -> object:
    """Values at integer positions `idx` (keeps the container kind)."""
    if isinstance(values, tuple):
        return tuple(vtake(v, idx) for v in values)
    if (
        isinstance(values, np.ndarray)
        and len(values)
        and len(idx) * values[0].nbytes > MAX_STACK_BYTES
    ):
        raise ExecutionError(
            f"a stream of {len(idx)} tiles ({(len(idx) * values[0].nbytes) >> 20} MiB) is too "
            f"large for the interpreter; use larger tiles or fewer repeats"
        )
    if isinstance(values, np.ndarray | LazyTiles):
        return values[idx]
    return [values[i] for i in idx.tolist()]


def vconcat(parts: list, like: object) -> object:
    """Concatenate value containers (an empty list gives an empty container like `like`)."""
    if isinstance(like, tuple):
        return tuple(vconcat([p[i] for p in parts], like[i]) for i in range(len(like)))
    arrays = [p for p in parts if vlen(p)]
    if not arrays:
        return like[:0] if isinstance(like, np.ndarray | LazyTiles) else []
    if all(isinstance(p, LazyTiles) and p.grid is arrays[0].grid for p in arrays):
        return LazyTiles(arrays[0].grid, np.concatenate([p.idx for p in arrays]))
    arrays = [p.materialize() if isinstance(p, LazyTiles) else p for p in arrays]
    if all(isinstance(p, np.ndarray) for p in arrays) and len({p.shape[1:] for p in arrays}) == 1:
        return np.concatenate(arrays)
    out: list = []
    for p in arrays:
        out.extend(list(p))
    return out


def vstack(values: object) -> np.ndarray | None:
    """The values as one stacked ndarray, or None when their shapes differ."""
    if isinstance(values, np.ndarray):
        return values
    if isinstance(values, LazyTiles):
        return values.materialize()
    if (
        isinstance(values, list)
        and values
        # the values' types (a C loop): half the cost of isinstance on every value
        and all(issubclass(k, np.ndarray) for k in set(map(type, values)))
    ):
        if len({v.shape for v in values}) == 1:
            return stack(values)
    return None


def stack(arrays: list[np.ndarray]) -> np.ndarray:
    """`np.stack` of arrays of one shape, as one concatenate: np.stack makes a view of
    every piece first, which doubles its cost on the many small tiles of a stream."""
    if arrays[0].ndim == 0:
        return np.stack(arrays)
    return np.concatenate(arrays).reshape((len(arrays),) + arrays[0].shape)


def tile_shapes(values: object) -> np.ndarray:
    """[n, 2] int array of (rows, cols) of each tile (zeros for non-tiles)."""
    if isinstance(values, LazyTiles):
        return np.broadcast_to(np.array(values.grid.shape[1:], dtype=np.int64), (len(values), 2))
    if isinstance(values, np.ndarray):
        n = len(values)
        if values.ndim == 3:
            return np.broadcast_to(np.array(values.shape[1:], dtype=np.int64), (n, 2))
        return np.zeros((n, 2), dtype=np.int64)
    try:  # a list of 2-d tiles (dynamic tiles: a MoE sweep asks this of ~10^5 of them),
        # read through one flat iterator: half the time of the general case below
        shapes = [v.shape for v in values]
    except AttributeError:
        shapes = None
    if shapes is not None and set(map(len, shapes)) <= {2}:
        return np.fromiter(chain.from_iterable(shapes), np.int64, 2 * len(shapes)).reshape(-1, 2)
    return np.array(
        [v.shape if isinstance(v, np.ndarray) and v.ndim == 2 else (0, 0) for v in values],
        dtype=np.int64,
    ).reshape(-1, 2)


def value_bytes(values: object, itemsize: int) -> np.ndarray:
    """Bytes of each value (tiles: rows*cols*itemsize; other kinds: itemsize)."""
    if isinstance(values, tuple):
        raise TypeError("use per-component sizes for tuples")
    shapes = tile_shapes(values)
    return shapes[:, 0] * shapes[:, 1] * itemsize


# --- stop-token structure ------------------------------------------------------------------
def regular(shape: tuple[int, ...], values: object, nested: bool = False) -> StreamData:
    """A stream with a regular shape (outermost first) filled with `values` in order.

    With `nested=True` the stream is a sub-stream: its last item closes one level more than
    its rank (callers add the parent's stop to it).
    """
    stop = regular_stops(shape, nested)
    if len(shape) and shape[-1] == 0 and len(stop):
        return StreamData(stop, np.zeros(len(stop), dtype=bool), values)
    return StreamData(stop, np.ones(len(stop), dtype=bool), values)


def regular_stops(shape: tuple[int, ...], nested: bool = False) -> np.ndarray:
    """Stop levels of the items of a regular shape (see `regular`)."""
    rank = len(shape) - 1
    if any(d < 0 for d in shape):
        raise ExecutionError(f"negative dimension in shape {list(shape)}")
    if shape[0] == 0:
        return np.zeros(0, dtype=np.int8)
    if any(d == 0 for d in shape[1:-1]):
        raise ExecutionError(
            f"shape {list(shape)} has an empty middle dim (only the "
            f"innermost dim of a stream can be empty)"
        )
    eff = shape[:-1] + (max(shape[-1], 1),)
    n = 1
    for d in eff:  # Python ints: a huge shape cannot overflow before it is refused
        n *= d
    if n > MAX_ITEMS:
        raise ExecutionError(f"shape {list(shape)} has {n} items (limit {MAX_ITEMS})")
    stop = np.zeros(n, dtype=np.int8)
    period = 1
    for level in range(1, rank + 2):
        period *= eff[-level]
        stop[period - 1 :: period] = level
    if not nested:
        np.minimum(stop, rank, out=stop)
    return stop


def nest(
    outer: StreamData,
    subs_stop: list[np.ndarray],
    sub_rank: int,
    subs_has_value: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Stops of a stream made by replacing each value item of `outer` by a sub-stream.

    `subs_stop[j]` are the nested stops of value j's sub-stream (see `regular`); an empty
    sub-stream becomes a bare stop. Returns (stop, has_value) of the result, whose rank is
    outer rank + sub_rank + 1. The values are the caller's (concatenated in order).
    """
    shift = sub_rank + 1
    stops: list[np.ndarray] = []
    flags: list[np.ndarray] = []
    j = 0
    for stop, has in zip(outer.stop.tolist(), outer.has_value.tolist(), strict=True):
        if has:
            sub = subs_stop[j]
            sub_has = (
                subs_has_value[j] if subs_has_value is not None else np.ones(len(sub), dtype=bool)
            )
            j += 1
            if len(sub) == 0:
                stops.append(np.array([shift + stop], dtype=np.int8))
                flags.append(np.zeros(1, dtype=bool))
                continue
            sub = sub.copy()
            sub[-1] = shift + stop
            stops.append(sub)
            flags.append(sub_has)
        else:
            stops.append(np.array([shift + stop], dtype=np.int8))
            flags.append(np.zeros(1, dtype=bool))
    if not stops:
        return np.zeros(0, dtype=np.int8), np.zeros(0, dtype=bool)
    return np.concatenate(stops), np.concatenate(flags)


def nest_runs(
    outer: StreamData, lengths: np.ndarray, sub_rank: int
) -> tuple[np.ndarray, np.ndarray]:
    """`nest` where value j's sub-stream is a flat run of `lengths[j]` items (flat_map:
    a tile split into rows), without a sub-stream array per value."""
    if outer.n_items == 0:  # no value, no sub-stream
        return np.zeros(0, dtype=np.int8), np.zeros(0, dtype=bool)
    bad = lengths[(lengths < 0) | (lengths > MAX_ITEMS)]
    if len(bad):  # refused as a sub-stream of that shape is (negative, or too long)
        regular_stops((int(bad[0]),), nested=True)
    per_item = np.ones(outer.n_items, dtype=np.int64)  # a bare stop or an empty run: one item
    per_item[outer.has_value] = np.maximum(lengths, 1)
    ends = np.cumsum(per_item) - 1
    n = int(ends[-1]) + 1 if len(ends) else 0
    stop = np.zeros(n, dtype=np.int8)
    stop[ends] = sub_rank + 1 + outer.stop
    bare = ~outer.has_value
    bare[outer.has_value] = lengths == 0
    has = np.ones(n, dtype=bool)
    has[ends[bare]] = False
    return stop, has


def nest_uniform(
    outer: StreamData, sub_stop: np.ndarray, sub_rank: int, sub_has_value: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`nest` where every value item gets the same sub-stream (fast, vectorised)."""
    if outer.n_items == 0:  # an empty stream: an expert no token was routed to, say
        return np.zeros(0, dtype=np.int8), np.zeros(0, dtype=bool)
    if not outer.has_value.all() or len(sub_stop) == 0:
        n = outer.n_values
        return nest(
            outer, [sub_stop] * n, sub_rank, None if sub_has_value is None else [sub_has_value] * n
        )
    n, m = outer.n_items, len(sub_stop)
    stop = np.empty((n, m), dtype=np.int8)
    stop[:] = sub_stop
    stop[:, -1] = sub_rank + 1 + outer.stop
    has = np.ones(n * m, dtype=bool) if sub_has_value is None else np.tile(sub_has_value, n)
    return stop.reshape(-1), has


def chunk_ends(stop: np.ndarray, level: int) -> np.ndarray:
    """Item positions that end a chunk of rank `level` (level >= 1): stop >= level."""
    return np.flatnonzero(stop >= level)


def value_positions(has_value: np.ndarray) -> np.ndarray:
    """For every item, the index of its value (or of the next value for bare stops)."""
    return np.cumsum(has_value) - has_value


def chunk_value_ranges(s: StreamData, level: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value start, value end, end item) of every chunk at `level` (>= 1)."""
    ends = chunk_ends(s.stop, level)
    cum = np.cumsum(s.has_value)
    value_end = cum[ends] if len(ends) else np.zeros(0, dtype=np.int64)
    value_start = np.concatenate([[0], value_end[:-1]]) if len(ends) else value_end
    return value_start.astype(np.int64), value_end.astype(np.int64), ends


def multi_index(s: StreamData, rank: int) -> np.ndarray:
    """[n_values, rank + 1] index of every value along each dim (outermost first)."""
    idx = np.zeros(rank + 1, dtype=np.int64)
    out = np.zeros((s.n_values, rank + 1), dtype=np.int64)
    j = 0
    for stop, has in zip(s.stop.tolist(), s.has_value.tolist(), strict=True):
        if has:
            out[j] = idx
            j += 1
        if stop == 0:
            idx[rank] += 1
        else:  # S_stop closes levels 0..stop-1: they restart, dim `stop` advances
            idx[rank - stop + 1 :] = 0
            idx[rank - stop] += 1
    return out


def check_same_structure(streams: list[StreamData], what: str) -> None:
    first = streams[0]
    for i, s in enumerate(streams[1:], start=1):
        if s.stop is first.stop and s.has_value is first.has_value:  # copies of one stream
            continue
        if s.stop.shape == first.stop.shape == s.has_value.shape == first.has_value.shape == (0,):
            continue  # both empty (an expert without tokens): equal, without numpy's calls
        if s.n_items != first.n_items or not (
            np.array_equal(s.stop, first.stop) and np.array_equal(s.has_value, first.has_value)
        ):
            raise ExecutionError(
                f"{what}: input {i} does not have the same stop-token "
                f"structure as input 0 ({s.n_items} vs {first.n_items} items)"
            )


def observed_dim(s: StreamData, rank: int, k: int) -> np.ndarray:
    """Distinct run lengths seen for dim k (counted from the innermost), to check shapes."""
    elems = s.has_value if k == 0 else s.stop >= k
    if k == rank:
        return np.array([int(np.count_nonzero(elems))]) if s.n_items else np.zeros(1, int)
    ends = np.flatnonzero(s.stop >= k + 1)
    if not len(ends):
        return np.zeros(1, int)
    cum = np.cumsum(elems)
    counts = np.diff(cum[ends], prepend=0)
    return counts[:1] if (counts == counts[0]).all() else np.unique(counts)
