"""Rules of the primitives that reshape a stream's fibers: coordinate tiling (`split`,
`flatten`) and the empty-fiber dropper (`empty_stkn_drop`).

`split` and `flatten` are SAM's coordinate tiling: one level of coordinates becomes two
(tiles of `factor` coordinates, the inner stream one fiber per tile) and back again; their
goldens are the public SAM simulator's `test_split_flatten`. Each step emits the output
token that is one longer than the other (the inner stream for `split`, the outer ones taken
with their fibers for `flatten`).
"""

from __future__ import annotations

import numpy as np

from dsl.sam.ir import Node
from interpreter.errors import ExecutionError
from interpreter.sam.rules import Context, Result, StepPlan, rule
from interpreter.sam.streams import (
    DATA,
    EMPTY,
    Tokens,
    check_nesting,
    check_well_formed,
    fiber_ids,
    parent_consumption,
    units,
)


def _coordinates(s: Tokens, where: str) -> np.ndarray:
    """Mask of the data tokens of a coordinate stream, refusing `N` (a tiled level holds
    coordinates only) and negative coordinates."""
    check_well_formed(s, where)
    if (s.ctl == EMPTY).any():
        t = int(np.flatnonzero(s.ctl == EMPTY)[0])
        raise ExecutionError(f"{where}: token {t} is N; only coordinates can be tiled")
    data = s.ctl == DATA
    if (s.val[data] < 0).any():
        raise ExecutionError(f"{where}: negative coordinate {int(s.val[data].min())}")
    return data


@rule("split")
def split(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    """Outer: crd // factor once per tile present in a fiber, stops as the input. Inner:
    the coordinates (or their offsets) with S0 between tiles of one fiber and every input
    stop one level higher. One step per inner token; a new tile's outer coordinate leaves
    with its first inner coordinate."""
    s, f = ins[0], node.attrs["factor"]
    data = _coordinates(s, node.label())
    tile = s.val // f
    prev = np.r_[False, data[:-1]]  # the token before is a coordinate of the same fiber
    prev_tile = np.r_[-1, tile[:-1]]
    if (data & prev & (tile < prev_tile)).any():
        t = int(np.flatnonzero(data & prev & (tile < prev_tile))[0])
        raise ExecutionError(f"{node.label()}: coordinates decrease at token {t}")
    inner = s.val if node.attrs.get("original") else s.val % f
    outer, inner_out, pos, outer_keep = group_runs(s.ctl, tile, inner)
    plan = StepPlan(len(inner_out.ctl), [pos], [pos[outer_keep], None])
    return Result([outer, inner_out], plan)


def group_runs(
    ctl: np.ndarray, key: np.ndarray, inner: np.ndarray
) -> tuple[Tokens, Tokens, np.ndarray, np.ndarray]:
    """One level becomes two: each run of equal `key`s within a fiber becomes one outer
    coordinate (stops as `ctl`), owning an inner fiber of the run's `inner` values; inner
    fibers of one outer fiber are separated by S0 and every stop comes one level higher.
    Returns (outer, inner, inner position of every input token, outer's kept tokens)."""
    data = ctl == DATA
    n = len(ctl)
    prev = np.r_[False, data[:-1]]  # the token before is a coordinate of the same fiber
    new_run = data & ~(prev & (key == np.r_[key[:1], key[:-1]]))
    between = new_run & prev  # a run after another in the same fiber: S0 first
    pos = np.arange(n) + np.cumsum(between)
    m = n + int(between.sum())
    out_ctl = np.empty(m, dtype=ctl.dtype)
    out_val = np.zeros(m, dtype=inner.dtype)
    out_ctl[pos] = np.where(ctl >= 0, ctl + 1, ctl)
    out_val[pos[data]] = inner[data]
    out_ctl[pos[between] - 1] = 0
    outer_keep = new_run | ~data
    outer = Tokens(ctl[outer_keep], np.where(data, key, 0)[outer_keep])
    return outer, Tokens(out_ctl, out_val), pos, outer_keep


@rule("flatten")
def flatten(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    """Each inner coordinate becomes its tile's outer coordinate * factor + itself; the
    inner S0 (end of a tile) goes and deeper stops come one level up. One step per inner
    token, taking the outer tokens as `crd_hold` does."""
    outer, inner = ins
    f = node.attrs["factor"]
    _coordinates(outer, node.label())
    data = _coordinates(inner, node.label())
    if (inner.val[data] >= f).any():
        bad = int(inner.val[data].max())
        raise ExecutionError(
            f"{node.label()}: inner coordinate {bad} is not below the factor {f}"
            " (split with original=False gives offsets)"
        )
    u = units(outer.ctl)
    start, stop = check_nesting(u, inner.ctl, node.label())
    keep = inner.ctl != 0
    held = outer.val[u.token[fiber_ids(inner.ctl)[data]]]
    val = np.zeros(len(inner.ctl), dtype=np.int64)
    val[data] = held * f + inner.val[data]
    ctl = np.where(inner.ctl > 0, inner.ctl - 1, inner.ctl).astype(inner.ctl.dtype)
    n = len(inner.ctl)

    def plan() -> StepPlan:
        consume = parent_consumption(u, len(outer.ctl), start, stop, n - 1)
        return StepPlan(n, [consume, None], [np.flatnonzero(keep)])

    return Result([Tokens(ctl[keep], val[keep])], plan)


@rule("empty_stkn_drop")
def empty_stkn_drop(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    """Stops before the first data token (or `N`) go; every later run of stops becomes one
    stop of the run's highest level, emitted when the token after the run arrives, and that
    token (data, `N` or `D`) one step later. One step per input token, plus one per run."""
    s = ins[0]
    check_well_formed(s, node.label())
    n = len(s.ctl)
    stop = s.ctl >= 0
    lead = stop & (np.cumsum(~stop) == 0)
    run_end = ~stop & np.r_[False, stop[:-1] & ~lead[:-1]]  # first token after a run
    ends = np.flatnonzero(run_end)
    starts = np.flatnonzero(stop & ~lead & ~np.r_[False, stop[:-1]])
    levels = np.maximum.reduceat(s.ctl, starts) if len(starts) else starts  # data < 0
    pos = np.arange(n) + np.cumsum(run_end)  # step of the token after each emission
    m = int((~stop).sum()) + len(ends)
    ctl = np.empty(m, dtype=s.ctl.dtype)
    val = np.zeros(m, dtype=s.val.dtype)
    kept = np.flatnonzero(~stop)
    out_pos = np.arange(len(kept)) + np.searchsorted(ends, kept, side="right")
    ctl[out_pos], val[out_pos] = s.ctl[kept], s.val[kept]
    run_pos = out_pos[np.searchsorted(kept, ends)] - 1
    ctl[run_pos] = levels
    emit = np.sort(np.r_[pos[kept], pos[ends] - 1])
    consume = np.where(run_end, pos - 1, pos)
    return Result([Tokens(ctl, val)], StepPlan(n + len(ends), [consume], [emit]))
