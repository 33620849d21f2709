"""Rules of the primitives that walk tensors: root, scan, locate, repeat signals, load."""

from __future__ import annotations

import numpy as np

from dsl.sam.formats import COMPRESSED
from dsl.sam.ir import Node
from interpreter.errors import ExecutionError
from interpreter.sam.rules import (
    Context,
    Result,
    StepPlan,
    block_size,
    check_size,
    one_to_one,
    rule,
)
from interpreter.sam.streams import (
    DATA,
    DONE,
    EMPTY,
    Tokens,
    check_nesting,
    check_well_formed,
    empties_as_data,
    fiber_ids,
    fibers,
    parent_consumption,
    units,
)


def parent_refs(node: Node, ref: Tokens, ctx: Context, unit_tok: np.ndarray) -> np.ndarray:
    """Parent positions of the units, checked against the level above."""
    ft = ctx.tensor(node)
    lv = node.attrs["level"]
    n_pos = ft.positions[lv - 1] if lv else 1
    r = ref.val[unit_tok]
    data = ref.ctl[unit_tok] == DATA
    bad = data & ((r < 0) | (r >= n_pos))
    if bad.any():
        raise ExecutionError(
            f"{node.label()}: reference {int(r[bad][0])} out of range for"
            f" level {lv} of {ft.decl.name!r} ({n_pos} parent positions)"
        )
    return np.where(data, r, 0)


@rule("root")
def root(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    out = Tokens(np.array([DATA, DONE], dtype=np.int16), np.zeros(2, dtype=np.int64))
    return Result([out], one_to_one(2, 0, 1))


@rule("scan")
def scan(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    ref = ins[0]
    check_well_formed(ref, node.label())
    ft, lv = ctx.tensor(node), node.attrs["level"]
    u = units(ref.ctl)
    r = parent_refs(node, ref, ctx, u.token)
    is_data = u.is_item & (ref.ctl[u.token] == DATA)
    compressed = ft.level_format(lv) == COMPRESSED
    if compressed:
        seg = ft.segs[lv]
        if len(seg) > 1:  # refs into a level with no positions were rejected above
            begin = seg[r]
            length = np.where(is_data, seg[r + 1] - begin, 0)
        else:
            begin = length = np.zeros(len(r), dtype=np.int64)
    else:
        size = ft.sizes[lv]
        begin = r * size
        length = np.where(is_data, size, 0)
    per_unit = length + 1
    check_size(node, int(per_unit.sum()) + 1)
    ends = np.cumsum(per_unit)
    total = int(ends[-1]) + 1 if len(ends) else 1
    first_pos, close_pos = ends - per_unit, ends - 1
    ctl = np.full(total, DATA, dtype=np.int16)
    ctl[close_pos] = u.close
    ctl[-1] = DONE
    n_data = int(length.sum())
    # a unit's tokens are positions begin, begin + 1, ... of the level, then its stop:
    # ref = token index + (begin - first_pos) along the unit; stops and D then hold 0
    ref_val = np.arange(total, dtype=np.int64)
    ref_val[:-1] += np.repeat(begin - first_pos, per_unit)
    ref_val[close_pos] = 0
    ref_val[-1] = 0
    if not compressed:  # the coordinate is the position within the fiber
        crd_val = ref_val - np.repeat(np.append(begin, 0), np.append(per_unit, 1))
    elif n_data:
        crd_val = ft.crds[lv][ref_val]
    else:
        crd_val = np.zeros(total, dtype=np.int64)
    crd_val[close_pos] = 0
    crd_val[-1] = 0

    def plan() -> StepPlan:
        consume = parent_consumption(u, len(ref.ctl), first_pos, close_pos, total - 1)
        memory = None
        if compressed and ctx.memory_steps:  # a fiber's two seg words, then one crd each
            seg_steps = np.repeat(first_pos[is_data], 2)
            memory = np.concatenate([seg_steps, np.flatnonzero(ctl == DATA)])
        return StepPlan(total, [consume], [None, None], memory=memory)

    return Result([Tokens(ctl, crd_val), Tokens(ctl, ref_val)], plan)


@rule("locate")
def locate(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    crd, ref = ins
    for s in ins:
        check_well_formed(s, node.label())
    ft, lv = ctx.tensor(node), node.attrs["level"]
    u = units(ref.ctl)
    start, stop = check_nesting(u, crd.ctl, node.label())
    r = parent_refs(node, ref, ctx, u.token)
    item = crd.ctl == DATA
    if (crd.ctl == EMPTY).any():
        raise ExecutionError(f"{node.label()}: the crd input holds an Empty token")
    owner = fiber_ids(crd.ctl)[item]
    p = r[owner]
    parent_empty = ref.ctl[u.token][owner] == EMPTY
    c = crd.val[item]
    size = ft.sizes[lv]
    if len(c) and (c.min() < 0 or c.max() >= size):
        raise ExecutionError(
            f"{node.label()}: coordinate out of range 0..{size - 1} for level"
            f" {lv} of {ft.decl.name!r}"
        )
    out_ctl = crd.ctl.copy()
    out_val = np.zeros(len(crd.ctl), dtype=np.int64)
    memory = None
    if ft.level_format(lv) == COMPRESSED:
        seg, arr = ft.segs[lv], ft.crds[lv]
        owner_of_pos = np.repeat(np.arange(len(seg) - 1), np.diff(seg))
        keys = owner_of_pos * size + arr
        want = p * size + c
        idx = np.searchsorted(keys, want)
        found = idx < len(keys)
        found[found] = keys[idx[found]] == want[found]
        pos = np.where(found, idx, 0)
        missing = ~found | parent_empty
        if ctx.memory_steps:
            memory = np.concatenate([np.repeat(start[u.is_item], 2), np.flatnonzero(item)])
    else:
        pos = p * size + c
        missing = parent_empty
    item_idx = np.flatnonzero(item)
    out_val[item_idx] = np.where(missing, 0, pos)
    out_ctl[item_idx[missing]] = EMPTY
    n = len(crd.ctl)
    consume = parent_consumption(u, len(ref.ctl), start, stop, n - 1)
    sched = StepPlan(n, [None, consume], [None, None], memory=memory)
    return Result([Tokens(crd.ctl, crd.val), Tokens(out_ctl, out_val)], sched)


@rule("repeat_signal")
def repeat_signal(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    s = ins[0]
    check_well_formed(s, node.label())
    ctl = np.where(s.ctl >= 0, 0, np.where(s.ctl == DONE, DONE, DATA)).astype(np.int16)
    return Result([Tokens(ctl, np.zeros(len(ctl), dtype=np.int64))], one_to_one(len(ctl), 1, 1))


@rule("repeat")
def repeat(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    x, sig = ins
    for s in ins:
        check_well_formed(s, node.label())
    u = units(x.ctl)
    start, stop, _ = fibers(sig.ctl)
    if len(stop) != len(u.token):
        raise ExecutionError(
            f"{node.label()}: the repeat signal has {len(stop)} fibers but the"
            f" input stream owns {len(u.token)}"
        )
    bare_full = ~u.is_item & (stop > start)
    if bare_full.any():
        raise ExecutionError(
            f"{node.label()}: repeat-signal fiber {int(np.flatnonzero(bare_full)[0])}"
            " repeats an empty outer fiber"
        )
    n = len(sig.ctl)
    lens = stop - start
    if (
        int(np.count_nonzero(sig.ctl == DATA)) != int(lens.sum())
        or n != len(stop) + int(lens.sum()) + 1
    ):
        raise ExecutionError(
            f"{node.label()}: the repeat signal must be fibers of R tokens, each closed by a"
            " stop, then D (the output of repeat_signal)"
        )
    # each unit's token is emitted len + 1 times (the last copy becomes the fiber's stop),
    # then x's own D
    src = np.append(u.token, len(x.ctl) - 1)
    reps = np.append(lens + 1, 1)
    check_size(node, n, block_size(x.val))
    ctl = np.repeat(x.ctl[src], reps)
    val = np.repeat(x.val[src], reps, axis=0)
    val[stop] = 0
    val[-1] = 0
    ctl[stop] = u.close

    def plan() -> StepPlan:
        return StepPlan(n, [parent_consumption(u, len(x.ctl), start, stop, n - 1), None], [None])

    return Result([Tokens(ctl, val)], plan)


@rule("load")
def load(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    ref = ins[0]
    check_well_formed(ref, node.label())
    ft = ctx.tensor(node)
    data = np.flatnonzero(ref.ctl == DATA)  # integer indices: faster than a mask when
    r = ref.val[data]  # data and Empty interleave irregularly (a union's payloads)
    if len(r) and (r.min() < 0 or r.max() >= len(ft.vals)):
        raise ExecutionError(
            f"{node.label()}: reference out of range for the values of"
            f" {ft.decl.name!r} ({len(ft.vals)} positions)"
        )
    b = ft.block
    n = len(ref.ctl)
    check_size(node, n, b)
    val = np.zeros((n, b, b) if b > 1 else n)
    val[data] = ft.vals[r]
    ctl = empties_as_data(ref.ctl)
    words = b * b
    memory = None if not ctx.memory_steps else data if words == 1 else np.repeat(data, words)
    sched = one_to_one(n, 1, 1, memory=memory)
    return Result([Tokens(ctl, val)], sched)
