"""Rules of the primitives that merge or filter coordinates: joiners, drops and holds."""

from __future__ import annotations

import numpy as np

from dsl.sam.ir import Node
from interpreter.errors import ExecutionError
from interpreter.sam.rules import Context, Result, StepPlan, rule
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


def check_aligned(a: Tokens, b: Tokens, where: str) -> None:
    """Same length, stops of equal level at equal places, items against items."""
    if len(a.ctl) != len(b.ctl):
        raise ExecutionError(
            f"{where}: inputs have {len(a.ctl)} and {len(b.ctl)} tokens; they must be token-aligned"
        )
    if np.array_equal(a.ctl, b.ctl):
        return
    ka, kb = empties_as_data(a.ctl), empties_as_data(b.ctl)
    bad = np.flatnonzero(ka != kb)
    if len(bad):
        t = int(bad[0])
        raise ExecutionError(
            f"{where}: inputs disagree at token {t}"
            f" ({_name(int(a.ctl[t]))} vs {_name(int(b.ctl[t]))})"
        )


def align_reduced(
    ins: list[Tokens], where: str, values: list[bool] | None = None
) -> tuple[list[Tokens], list[np.ndarray | None]]:
    """Token-align streams that must match fiber for fiber, dropping reduced phantoms.

    An empty outer fiber leaves a phantom deeper down: an empty fiber that stands for no
    coordinate, which a reducer cannot tell from a real empty fiber, so it emits its value
    (0) like for any empty fiber. A reduced stream may therefore hold one value in a fiber
    where the streams it meets hold none; that value stands for nothing and is dropped, as
    the value writer and `join` drop it. Returns the aligned streams and, per input, the mask
    of the tokens kept (None: all); a dropped value is taken with its fiber's stop.
    `values[k]` says whether input k is a value stream (a crd stream never holds one).
    """
    values = [True] * len(ins) if values is None else values
    if all(len(s.ctl) == len(ins[0].ctl) for s in ins):
        for s in ins[1:]:
            check_aligned(ins[0], s, where)
        return list(ins), [None] * len(ins)
    shapes = [fibers(s.ctl) for s in ins]
    n_fib = len(shapes[0][1])
    for s, (_, stop, level) in zip(ins[1:], shapes[1:], strict=True):
        if len(stop) != n_fib or not np.array_equal(level, shapes[0][2]):
            raise ExecutionError(
                f"{where}: inputs have {len(ins[0].ctl)} and {len(s.ctl)} tokens; they must"
                " be token-aligned"
            )
    counts = np.stack([stop - start for start, stop, _ in shapes])
    phantom = (counts.max(axis=0) == 1) & (counts.min(axis=0) == 0)
    phantom &= ~(counts[~np.asarray(values, dtype=bool)] == 1).any(axis=0)  # lone crds stay
    mismatch = (counts.max(axis=0) != counts.min(axis=0)) & ~phantom
    if mismatch.any():
        f = int(np.flatnonzero(mismatch)[0])
        raise ExecutionError(
            f"{where}: fiber {f} holds {' and '.join(str(int(c)) for c in counts[:, f])}"
            " items; inputs must be token-aligned"
        )
    out, keeps = [], []
    for s, (start, _, _) in zip(ins, shapes, strict=True):
        keep = np.ones(len(s.ctl), dtype=bool)
        keep[start[phantom & (counts[len(out)] == 1)]] = False
        dropped = not keep.all()
        out.append(Tokens(s.ctl[keep], s.val[keep]) if dropped else s)
        keeps.append(keep if dropped else None)
    for s in out[1:]:
        check_aligned(out[0], s, where)
    return out, keeps


def taken_with_kept(keep: np.ndarray | None, steps: np.ndarray | None) -> np.ndarray | None:
    """Step taking each token of an input `align_reduced` filtered by `keep`, given the steps
    taking the kept tokens: a dropped token goes with the next kept one (its fiber's stop)."""
    if keep is None:
        return steps
    kept = np.cumsum(keep) - keep
    return kept if steps is None else steps[kept]


def _name(code: int) -> str:
    return {DATA: "a value", EMPTY: "N", DONE: "D"}.get(code, f"S{code}")


def _keys(crd: Tokens, where: str, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(token index, fiber, coordinate) of the data tokens of one joiner input."""
    item = crd.ctl == DATA
    if (crd.ctl == EMPTY).any():
        raise ExecutionError(f"{where}: crd{k} holds an Empty token")
    idx = np.flatnonzero(item)
    c = crd.val[idx].astype(np.int64, copy=False)
    if len(c) and c.min() < 0:
        raise ExecutionError(f"{where}: crd{k} holds a negative coordinate")
    start, stop, _ = fibers(crd.ctl)
    per_fiber = stop - start
    if int(per_fiber.sum()) == len(idx):  # no data after the last stop: fibers are runs
        return idx, np.repeat(np.arange(len(stop)), per_fiber), c
    return idx, fiber_ids(crd.ctl)[idx], c


def _joiner(node: Node, ins: list[Tokens], keep_all: bool) -> Result:
    where = node.label()
    n = node.attrs["n"]
    crds, pays = ins[0::2], ins[1::2]
    pay_keeps: list[np.ndarray | None] = []
    for k in range(n):
        check_well_formed(crds[k], where)
        check_well_formed(pays[k], where)
        (crds[k], pays[k]), (_, keep) = align_reduced(
            [crds[k], pays[k]], f"{where} crd{k}/payload{k}", values=[False, True]
        )
        pay_keeps.append(keep)
    stops0 = crds[0].ctl[crds[0].ctl >= 0]
    for k in range(1, n):
        sk = crds[k].ctl[crds[k].ctl >= 0]
        if len(sk) != len(stops0) or not np.array_equal(sk, stops0):
            m = min(len(sk), len(stops0))
            diff = np.flatnonzero(sk[:m] != stops0[:m])
            f = int(diff[0]) if len(diff) else m
            raise ExecutionError(
                f"{where}: crd{k} has different fibers from crd0 (stop {f}:"
                f" {len(sk)} vs {len(stops0)} fibers); joiner inputs must"
                " nest the same way"
            )
    n_fib = len(stops0)
    parts = [_keys(crds[k], where, k) for k in range(n)]
    width = 1 + max((int(c.max()) for _, _, c in parts if len(c)), default=0)
    keys = []
    for k, (_, f, c) in enumerate(parts):
        key = f * width + c
        if len(key) > 1 and (key[1:] <= key[:-1]).any():
            raise ExecutionError(f"{where}: crd{k} coordinates are not increasing within a fiber")
        keys.append(key)
    # merge the sorted inputs: every distinct (fiber, coordinate) key gets an id in order
    cat = np.concatenate(keys)
    order = np.argsort(cat, kind="stable")
    srt = cat[order]
    new = np.empty(len(srt), dtype=bool)
    new[:1] = True
    np.not_equal(srt[1:], srt[:-1], out=new[1:])
    uid = np.cumsum(new) - 1
    uid_of = np.empty(len(cat), dtype=np.int64)
    uid_of[order] = uid
    every = srt[new]
    every_fib = every // width
    every_crd = every - every_fib * width
    n_every = len(every_fib)
    selected = np.bincount(uid, minlength=n_every) == n if not keep_all else None
    out_fib = every_fib if keep_all else every_fib[selected]
    # steps: one per distinct key in any input, one per stop, one for D
    step_key = np.arange(n_every) + every_fib
    step_stop = np.cumsum(np.bincount(every_fib, minlength=n_fib) + 1) - 1
    steps_total = n_every + n_fib + 1
    if keep_all:  # a union emits at every step: its output positions are its steps
        out_stop, total = step_stop, steps_total
    else:
        out_stop = np.cumsum(np.bincount(out_fib, minlength=n_fib) + 1) - 1
        total = len(out_fib) + n_fib + 1
    ctl = np.full(total, DATA, dtype=np.int16)
    ctl[out_stop] = stops0
    ctl[-1] = DONE
    data_pos = step_key if keep_all else np.flatnonzero(ctl == DATA)
    crd_val = np.zeros(total, dtype=np.int64)
    crd_val[data_pos] = every_crd if keep_all else every_crd[selected]
    out_index = None if keep_all else np.cumsum(selected) - 1
    outputs = [Tokens(ctl, crd_val)]
    empty_ctl = ctl - (ctl == DATA)  # every coordinate Empty (DATA - 1 is EMPTY)
    mines, offset = [], 0
    for k in range(n):
        idx = parts[k][0]
        mine = uid_of[offset : offset + len(idx)]
        mines.append(mine)
        offset += len(idx)
        if keep_all:
            src, dst = idx, data_pos[mine]
        else:
            hit = selected[mine]
            src, dst = idx[hit], data_pos[out_index[mine[hit]]]
        p = pays[k]
        pctl = empty_ctl.copy()
        pctl[dst] = p.ctl[src]
        pval = np.zeros((total,) + p.val.shape[1:], dtype=p.val.dtype)
        pval[dst] = p.val[src]
        outputs.append(Tokens(pctl, pval))

    def plan() -> StepPlan:
        consume = []
        for k in range(n):
            c_steps = np.empty(len(crds[k].ctl), dtype=np.int64)
            c_steps[parts[k][0]] = step_key[mines[k]]
            c_steps[crds[k].ctl >= 0] = step_stop
            c_steps[-1] = steps_total - 1
            consume += [c_steps, taken_with_kept(pay_keeps[k], c_steps)]
        if keep_all:
            emit = None
        else:
            emit = np.empty(total, dtype=np.int64)
            emit[data_pos] = step_key[selected]
            emit[out_stop] = step_stop
            emit[-1] = steps_total - 1
        return StepPlan(steps_total, consume, [emit] * (n + 1))

    return Result(outputs, plan)


@rule("intersect")
def intersect(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    return _joiner(node, ins, keep_all=False)


@rule("union")
def union(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    return _joiner(node, ins, keep_all=True)


@rule("crd_drop")
def crd_drop(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    outer, inner = ins
    for s in ins:
        check_well_formed(s, node.label())
    u = units(outer.ctl)
    start, stop = check_nesting(u, inner.ctl, node.label())
    n = len(inner.ctl)
    dropped = u.is_item & (stop == start)
    group = fiber_ids(outer.ctl)[u.token]
    last_of_group = np.ones(len(group), dtype=bool)
    last_of_group[:-1] = group[1:] != group[:-1]
    group_level = u.close[last_of_group]
    kept = np.flatnonzero(~dropped)
    # a group keeps its closing stop: on its last kept fiber, or alone if none is kept
    keeper = np.zeros(len(group), dtype=bool)
    if len(kept):
        last_kept = np.ones(len(kept), dtype=bool)
        last_kept[:-1] = group[kept[1:]] != group[kept[:-1]]
        keeper[kept[last_kept]] = True
    has_kept = np.zeros(int(group.max()) + 1 if len(group) else 0, dtype=bool)
    has_kept[group[kept]] = True
    lone = last_of_group & ~has_kept[group]
    keeper |= lone
    in_keep = np.ones(n, dtype=bool)
    in_keep[stop[dropped & ~lone]] = False
    in_ctl = inner.ctl.copy()
    g_index = np.cumsum(last_of_group) - last_of_group  # group ordinal of each unit
    in_ctl[stop[keeper]] = group_level[g_index[keeper]]
    out_keep = np.ones(len(outer.ctl), dtype=bool)
    out_keep[u.token[dropped]] = False
    consume_outer = parent_consumption(u, len(outer.ctl), start, stop, n - 1)
    steps = np.arange(n, dtype=np.int64)
    sched = StepPlan(n, [consume_outer, None], [consume_outer[out_keep], steps[in_keep]])
    return Result(
        [
            Tokens(outer.ctl[out_keep], outer.val[out_keep]),
            Tokens(in_ctl[in_keep], inner.val[in_keep]),
        ],
        sched,
    )


@rule("crd_hold")
def crd_hold(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    outer, inner = ins
    for s in ins:
        check_well_formed(s, node.label())
    u = units(outer.ctl)
    start, stop = check_nesting(u, inner.ctl, node.label())
    item = inner.ctl == DATA
    held = np.zeros(len(inner.ctl), dtype=np.int64)
    held[item] = outer.val[u.token[fiber_ids(inner.ctl)[item]]]
    n = len(inner.ctl)

    def plan() -> StepPlan:
        consume = parent_consumption(u, len(outer.ctl), start, stop, n - 1)
        return StepPlan(n, [consume, None], [None, None])

    return Result([Tokens(inner.ctl, held), Tokens(inner.ctl, inner.val)], plan)


@rule("stkn_drop")
def stkn_drop(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    s = ins[0]
    check_well_formed(s, node.label())
    keep = s.ctl < 0  # data, Empty and D (a stop's code is its level, >= 0)
    steps = np.flatnonzero(keep)
    return Result([Tokens(s.ctl[keep], s.val[keep])], StepPlan(len(s.ctl), [None], [steps]))


@rule("val_drop")
def val_drop(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    val, crd = ins
    for s in ins:
        check_well_formed(s, node.label())
    (val, crd), keeps = align_reduced([val, crd], node.label(), values=[True, False])
    item = (val.ctl == DATA) | (val.ctl == EMPTY)
    v = val.val.reshape(len(val.ctl), -1)
    zero = item & ((val.ctl == EMPTY) | ~v.any(axis=1))
    keep = ~zero
    n = len(val.ctl)
    steps = np.arange(n, dtype=np.int64)
    ctl = empties_as_data(val.ctl)[keep]
    return Result(
        [Tokens(ctl, val.val[keep]), Tokens(crd.ctl[keep], crd.val[keep])],
        StepPlan(n, [taken_with_kept(k, None) for k in keeps], [steps[keep], steps[keep]]),
    )
