"""Fibertree storage of a tensor, built from a dense array or from written streams.

Levels are in storage order (`mode_order`). A compressed level has `seg` (one entry per
parent position, plus one) and `crd`; a dense level only its size. `vals` has one entry
per position of the last level (a b x b block each in block mode).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsl.sam.formats import COMPRESSED
from dsl.sam.ir import TensorDecl
from interpreter.errors import ExecutionError
from interpreter.sam.streams import DATA, EMPTY, Tokens, fiber_ids, fibers, group_ids

MAX_POSITIONS = 60_000_000
"""Most values a stored tensor may hold (dense levels allocate every position)."""


def resolve_shape(decl: TensorDecl, dims: dict[str, int]) -> tuple[int, ...]:
    """The tensor's shape in its own mode order, with dim names replaced by values."""
    out = []
    for d in decl.shape:
        if isinstance(d, str):
            if d not in dims:
                raise ExecutionError(f"tensor {decl.name!r}: dim {d!r} has no value")
            out.append(int(dims[d]))
        else:
            out.append(int(d))
    return tuple(out)


@dataclass
class Fibertree:
    decl: TensorDecl
    sizes: tuple[int, ...]  # per storage level (in blocks when block > 1)
    segs: list[np.ndarray | None]
    crds: list[np.ndarray | None]
    positions: list[int]  # number of positions at each level
    vals: np.ndarray

    @property
    def block(self) -> int:
        return self.decl.block

    def level_format(self, level: int) -> str:
        return self.decl.levels[level]

    @classmethod
    def from_dense(cls, array: np.ndarray, decl: TensorDecl, dims: dict[str, int]) -> Fibertree:
        shape = resolve_shape(decl, dims)
        a = np.asarray(array, dtype=np.float64)
        if a.shape != shape:
            raise ExecutionError(f"input {decl.name!r} has shape {a.shape}, expected {shape}")
        a = np.transpose(a, decl.mode_order)
        b = decl.block
        if b > 1:
            padded = [-(-n // b) * b for n in a.shape]
            full = np.zeros(padded)
            full[: a.shape[0], : a.shape[1]] = a
            blocks = full.reshape(padded[0] // b, b, padded[1] // b, b).transpose(0, 2, 1, 3)
            present = np.abs(blocks).sum(axis=(2, 3)) != 0
            coords = np.argwhere(present)
            vals = blocks[coords[:, 0], coords[:, 1]]
            sizes = tuple(n // b for n in padded)
        else:
            coords = np.argwhere(a != 0)
            vals = a[tuple(coords.T)] if a.ndim else a.reshape(1)
            sizes = a.shape
        return cls.from_coords(decl, sizes, coords, vals)

    @classmethod
    def from_coords(
        cls, decl: TensorDecl, sizes: tuple[int, ...], coords: np.ndarray, vals: np.ndarray
    ) -> Fibertree:
        """Storage for sorted, unique coordinate rows (storage order) and their values."""
        n = len(coords)
        parent_pos = np.zeros(n, dtype=np.int64)
        num_parent = 1
        segs: list[np.ndarray | None] = []
        crds: list[np.ndarray | None] = []
        positions: list[int] = []
        new_prefix = np.zeros(n, dtype=bool)
        if n:
            new_prefix[0] = True
        for lv, size in enumerate(sizes):
            c = coords[:, lv].astype(np.int64, copy=False)
            if n > 1:
                new_prefix[1:] |= c[1:] != c[:-1]
            if decl.levels[lv] == COMPRESSED:
                starts = np.flatnonzero(new_prefix)
                counts = np.bincount(parent_pos[starts], minlength=num_parent)
                seg = np.zeros(num_parent + 1, dtype=np.int64)
                np.cumsum(counts, out=seg[1:])
                segs.append(seg)
                crds.append(c[starts])
                num = len(starts)
                # unique rows make every entry of the last level new: positions 0..n-1
                pos = np.arange(n, dtype=np.int64) if num == n else np.cumsum(new_prefix) - 1
            else:
                segs.append(None)
                crds.append(None)
                pos = parent_pos * size + c
                num = num_parent * size
                if num * decl.block**2 > MAX_POSITIONS:
                    raise ExecutionError(
                        f"tensor {decl.name!r}: dense level {lv} would hold {num:,} positions,"
                        f" more than the {MAX_POSITIONS:,} values allowed"
                    )
            positions.append(num)
            parent_pos, num_parent = pos, num
        b = decl.block
        shape = (num_parent, b, b) if b > 1 else (num_parent,)
        if n and num_parent == n:  # n increasing positions below n: exactly 0..n-1
            full = np.array(vals, dtype=np.float64).reshape(shape)
        elif n:
            full = np.zeros(shape)
            full[parent_pos] = vals
        elif not sizes:
            full = np.asarray(vals, dtype=np.float64).reshape(shape)
        else:
            full = np.zeros(shape)
        return cls(decl, tuple(sizes), segs, crds, positions, full)

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        """(coordinate rows in storage order, position) of every stored value."""
        rows = np.zeros((1, 0), dtype=np.int64)
        pos = np.zeros(1, dtype=np.int64)
        for lv, size in enumerate(self.sizes):
            if self.segs[lv] is None:
                c = np.tile(np.arange(size), len(pos))
                parent = np.repeat(np.arange(len(pos)), size)
                new_pos = pos[parent] * size + c
            else:
                seg = self.segs[lv]
                lengths = seg[pos + 1] - seg[pos]
                parent = np.repeat(np.arange(len(pos)), lengths)
                new_pos = np.arange(lengths.sum()) + np.repeat(
                    seg[pos] - np.cumsum(lengths) + lengths, lengths
                )
                c = self.crds[lv][new_pos]
            rows = np.concatenate([rows[parent], c[:, None]], axis=1)
            pos = new_pos
        return rows, pos

    def to_dense(self, shape: tuple[int, ...]) -> np.ndarray:
        """Dense array in the tensor's own mode order (absent entries are 0)."""
        rows, pos = self.coords()
        b = self.block
        storage_shape = tuple(shape[m] for m in self.decl.mode_order)
        if b > 1:
            padded = [n * b for n in self.sizes]
            full = np.zeros(padded)
            for (r, c), p in zip(rows.tolist(), pos.tolist(), strict=True):
                full[r * b : (r + 1) * b, c * b : (c + 1) * b] = self.vals[p]
            out = full[: storage_shape[0], : storage_shape[1]]
        else:
            out = np.zeros(storage_shape)
            if not storage_shape:  # a scalar: the root holds the one value
                out[()] = self.vals[0]
            elif len(pos):
                out[tuple(rows.T)] = self.vals[pos]
        return np.transpose(out, np.argsort(self.decl.mode_order))


def assemble(
    decl: TensorDecl, sizes: tuple[int, ...], levels: list[Tokens], vals: Tokens, where: str
) -> tuple[Fibertree, dict[str, int]]:
    """Rebuild a written tensor from its level writers' and value writer's streams.

    Level l's stream must hold one fiber per coordinate of level l-1; a group with no
    parent coordinate may hold one empty fiber (a phantom), which is dropped. Returns the
    fibertree and the seg/crd/val write counts.
    """
    parent_lens = np.ones(1, dtype=np.int64)  # coordinates per fiber of the level above
    rows = np.zeros((1, 0), dtype=np.int64)
    keep_tok = None
    counts = {"seg_writes": 0, "crd_writes": 0, "val_writes": 0}
    for lv, s in enumerate(levels):
        start, stop_tok, _ = fibers(s.ctl)
        # fibers are grouped by the level above; fiber groups close at stops >= lv
        group = group_ids(s.ctl, 1)[stop_tok] if lv else np.zeros(len(stop_tok), np.int64)
        if lv == 0 and len(stop_tok) != 1:
            raise ExecutionError(
                f"{where}: level 0 stream must hold one fiber, it has {len(stop_tok)}"
            )
        fiber_ok = _real_fibers(group, start, stop_tok, parent_lens, lv, where)
        tok_fiber = fiber_ids(s.ctl)  # a stop belongs to the fiber it closes
        item = s.ctl == DATA
        keep_tok = item & fiber_ok[np.minimum(tok_fiber, len(fiber_ok) - 1)]
        if (s.ctl == EMPTY).any():
            raise ExecutionError(f"{where}: level {lv} stream holds an Empty coordinate")
        real = np.flatnonzero(fiber_ok)
        rank = np.cumsum(fiber_ok) - 1
        owner = rank[tok_fiber[keep_tok]]
        crd = s.val[keep_tok].astype(np.int64, copy=False)
        if len(crd) and (crd.min() < 0 or crd.max() >= sizes[lv]):
            raise ExecutionError(f"{where}: level {lv} coordinate out of range 0..{sizes[lv] - 1}")
        rows = np.concatenate([rows[owner], crd[:, None]], axis=1)
        parent_lens = np.bincount(tok_fiber[item], minlength=len(stop_tok))
        if decl.levels[lv] == COMPRESSED:
            counts["seg_writes"] += len(real) + 1
            counts["crd_writes"] += len(crd)
        if len(crd) > 1:
            same = owner[1:] == owner[:-1]
            if ((crd[1:] <= crd[:-1]) & same).any():
                raise ExecutionError(
                    f"{where}: level {lv} coordinates are not increasing within a fiber"
                )
    v = vals.val[(vals.ctl == DATA) | (vals.ctl == EMPTY)] if keep_tok is None else None
    if keep_tok is not None:
        v = _aligned_values(levels[-1], keep_tok, vals, where)
    if len(v) != len(rows):
        raise ExecutionError(f"{where}: {len(v)} values for {len(rows)} coordinates")
    counts["val_writes"] = len(v)
    return Fibertree.from_coords(decl, sizes, rows, v), counts


def _real_fibers(
    group: np.ndarray,
    start: np.ndarray,
    stop_tok: np.ndarray,
    parent_lens: np.ndarray,
    lv: int,
    where: str,
) -> np.ndarray:
    """Which fibers of a level stream belong to a parent coordinate (not phantoms)."""
    if lv == 0:
        return np.ones(len(stop_tok), dtype=bool)
    n_groups = len(parent_lens)
    per_group = np.bincount(group, minlength=n_groups)
    if len(per_group) != n_groups:
        raise ExecutionError(
            f"{where}: level {lv} stream has {len(per_group)} outer fibers,"
            f" level {lv - 1} has {n_groups}"
        )
    empty = stop_tok == start
    phantom_group = (parent_lens == 0) & (per_group == 1)
    ok = (per_group == parent_lens) | phantom_group
    if not ok.all():
        g = int(np.flatnonzero(~ok)[0])
        raise ExecutionError(
            f"{where}: level {lv} outer fiber {g} holds {per_group[g]} fibers"
            f" for {parent_lens[g]} coordinates of level {lv - 1}"
        )
    is_phantom = phantom_group[group]
    if (is_phantom & ~empty).any():
        raise ExecutionError(f"{where}: level {lv} has coordinates under an empty fiber")
    return ~is_phantom


def _aligned_values(last: Tokens, keep_tok: np.ndarray, vals: Tokens, where: str) -> np.ndarray:
    """Values matching the kept coordinates of the last level stream."""
    v_item = (vals.ctl == DATA) | (vals.ctl == EMPTY)
    if int(v_item.sum()) == int(keep_tok.sum()):  # like SAM's value writer: stops ignored
        return vals.val[v_item]
    # a reduced phantom leaves one value in a fiber whose coordinate fiber is empty
    _, c_stop, _ = fibers(last.ctl)
    v_start, v_stop, _ = fibers(vals.ctl)
    if len(v_stop) != len(c_stop):
        raise ExecutionError(
            f"{where}: value stream has {len(v_stop)} fibers, the last level has {len(c_stop)}"
        )
    c_fiber = np.searchsorted(c_stop, np.flatnonzero(keep_tok))
    c_len = np.bincount(c_fiber, minlength=len(c_stop))
    v_len = v_stop - v_start
    ok = (v_len == c_len) | ((c_len == 0) & (v_len <= 1))
    if not ok.all():
        f = int(np.flatnonzero(~ok)[0])
        raise ExecutionError(
            f"{where}: value fiber {f} holds {v_len[f]} values for {c_len[f]} coordinates"
        )
    v_fiber = fiber_ids(vals.ctl)
    take = v_item & (c_len[np.minimum(v_fiber, len(c_len) - 1)] > 0)
    return vals.val[take]
