"""Rules of the primitives that compute values: ALU, reducer, sparse accumulators (their
cycle costs, block mode included, are in `interpreter.sam.costs`)."""

from __future__ import annotations

import numpy as np

from dsl.sam.ir import Node
from dsl.sam.primitives import BINARY_OPS
from interpreter.errors import ExecutionError
from interpreter.sam.merge import align_reduced, taken_with_kept
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
    check_well_formed,
    empties_as_data,
    fiber_ids,
)

_UNARY = {
    "exp": np.exp,
    "sin": np.sin,
    "cos": np.cos,
    "neg": np.negative,
    "abs": np.abs,
    "rsqrt": lambda x: 1.0 / np.sqrt(x),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0.0),
}
_SCALAR = {
    "scalar_add": np.add,
    "scalar_mul": np.multiply,
    "scalar_div": np.divide,
    "scalar_max": np.maximum,
    "scalar_pow": np.power,
}
_BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "max": np.maximum,
    "min": np.minimum,
}


def _as_blocks(x: np.ndarray, b: int) -> np.ndarray:
    return x if x.ndim == 3 or b == 1 else x[:, None, None] * np.ones((1, b, b))


@rule("alu")
def alu(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    op = node.attrs["op"]
    for s in ins:
        check_well_formed(s, node.label())
    keeps: list[np.ndarray | None] = [None] * len(ins)
    if op in BINARY_OPS:
        ins, keeps = align_reduced(ins, node.label())
    a = ins[0]
    # compute over whole streams (stops, D and Empty hold 0), then clear the non-values
    control = (a.ctl >= 0) | (a.ctl == DONE)
    b = max(block_size(s.val) for s in ins)
    check_size(node, len(a.ctl), b)
    x = _as_blocks(a.val, b)
    with np.errstate(all="ignore"):
        if op in BINARY_OPS:
            y = _as_blocks(ins[1].val, b)
            if op in ("matmul", "matmul_t") and b > 1:
                if a.val.ndim != 3 or ins[1].val.ndim != 3:
                    raise ExecutionError(f"{node.label()}: {op} needs two block streams")
                r = np.matmul(x, y if op == "matmul" else np.swapaxes(y, 1, 2))
            else:
                r = _BINARY["mul" if op.startswith("matmul") else op](x, y)
        elif op in _SCALAR:
            r = _SCALAR[op](x, node.attrs["scalar"])
        else:
            r = _UNARY[op](x)
    n = len(a.ctl)
    val = np.asarray(r, dtype=np.float64)
    val[control] = 0
    ctl = empties_as_data(a.ctl)
    sched = one_to_one(n, len(ins), 1)
    sched.consume = [taken_with_kept(keep, None) for keep in keeps]
    return Result([Tokens(ctl, val)], sched)


def _fiber_reduce(vals: np.ndarray, fib: np.ndarray, n_fib: int, op: str) -> np.ndarray:
    """Reduce values by fiber index (sorted); empty fibers give 0."""
    out = np.zeros((n_fib,) + vals.shape[1:])
    if not len(vals):
        return out
    starts = np.flatnonzero(np.r_[True, fib[1:] != fib[:-1]])
    ufunc = {"add": np.add, "max": np.maximum, "min": np.minimum}[op]
    out[fib[starts]] = ufunc.reduceat(vals, starts, axis=0)
    return out


@rule("reduce")
def reduce(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    s = ins[0]
    check_well_formed(s, node.label())
    stop = s.ctl >= 0
    if not stop.any():
        raise ExecutionError(f"{node.label()}: reduce needs a stream with fibers (stops)")
    item = (s.ctl == DATA) | (s.ctl == EMPTY)
    fib = fiber_ids(s.ctl)
    stop_tok = np.flatnonzero(stop)
    level = s.ctl[stop_tok].astype(np.int64, copy=False)
    sums = _fiber_reduce(s.val[item], fib[item], len(stop_tok), node.attrs["op"])
    extra = (level >= 1).astype(np.int64, copy=False)
    # each input stop emits its sum, and S(k-1) after it when k >= 1
    out_per_stop = 1 + extra
    out_len = int(out_per_stop.sum()) + 1
    sum_pos = np.cumsum(out_per_stop) - out_per_stop
    ctl = np.full(out_len, DATA, dtype=np.int16)
    ctl[sum_pos[extra == 1] + 1] = level[extra == 1] - 1
    ctl[-1] = DONE
    val = np.zeros((out_len,) + s.val.shape[1:])
    val[sum_pos] = sums

    def plan() -> StepPlan:
        # one step per input token, plus one after each stop of level >= 1
        n = len(s.ctl)
        shift = np.zeros(n, dtype=np.int64)
        shift[stop_tok] = extra
        step_of = np.arange(n, dtype=np.int64) + np.cumsum(shift) - shift
        emit = np.empty(out_len, dtype=np.int64)
        emit[sum_pos] = step_of[stop_tok]
        emit[sum_pos[extra == 1] + 1] = step_of[stop_tok[extra == 1]] + 1
        emit[-1] = step_of[-1]
        return StepPlan(int(step_of[-1]) + 1, [step_of], [emit])

    return Result([Tokens(ctl, val)], plan)


@rule("spacc")
def spacc(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    order = node.attrs["order"]
    for s in ins:
        check_well_formed(s, node.label())
    ins, keeps = align_reduced(ins, node.label(), values=[False] * (len(ins) - 1) + [True])
    val = ins[-1]
    crd = ins[-2]
    outer = ins[0] if order == 2 else None
    flush = val.ctl >= order
    if not flush.any():
        raise ExecutionError(
            f"{node.label()}: spacc{order} input has no stop of level >= {order} to flush at"
        )
    item = (val.ctl == DATA) | (val.ctl == EMPTY)
    flush_tok = np.flatnonzero(flush)
    # tokens after flush f-1 up to flush f (inclusive) form group f; the tail after the
    # last flush (D) is group n_groups
    seg_len = np.diff(flush_tok, prepend=-1, append=len(val.ctl) - 1)
    g = np.repeat(np.arange(len(seg_len)), seg_len)[item]
    c = crd.val[item].astype(np.int64, copy=False)
    width_c = int(c.max()) + 1 if len(c) else 1
    if outer is None:  # order 1: no outer coordinate (width 1)
        width_o = 1
        key = g * width_c + c
    else:
        o = outer.val[item].astype(np.int64, copy=False)
        width_o = int(o.max()) + 1 if len(o) else 1
        key = (g * width_o + o) * width_c + c
    key_range = (int(g.max()) + 1 if len(g) else 1) * width_o * width_c
    if val.val.ndim == 1 and key_range <= min(32 * len(key) + (1 << 16), 1 << 24):
        # few possible keys: count them directly instead of sorting
        uniq = np.flatnonzero(np.bincount(key, minlength=key_range))
        sums = np.bincount(key, weights=val.val[item], minlength=key_range)[uniq]
    else:
        uniq, inverse = np.unique(key, return_inverse=True)
        sums = np.zeros((len(uniq),) + val.val.shape[1:])
        np.add.at(sums, inverse, val.val[item])
    n_groups = len(flush_tok)
    level = val.ctl[flush_tok].astype(np.int64, copy=False)
    ug = uniq // (width_o * width_c)
    uo = (uniq // width_c) % width_o
    uc = uniq % width_c
    per_group = np.bincount(ug, minlength=n_groups)
    if order == 1:
        # crd/val: the group's entries then S(k-1)
        out_stop = np.cumsum(per_group + 1) - 1
        n_out = len(uniq) + n_groups + 1
        ctl = np.full(n_out, DATA, dtype=np.int16)
        ctl[out_stop] = level - 1
        ctl[-1] = DONE
        data_pos = np.flatnonzero(ctl == DATA)
        flush_len = per_group + 1
        outs_ctl = [ctl]
        outs_val = [(data_pos, uc)]
        outer_out = None
    else:
        new_row = np.ones(len(uniq), dtype=bool)
        new_row[1:] = (ug[1:] != ug[:-1]) | (uo[1:] != uo[:-1])
        rows_per_group = np.bincount(ug[new_row], minlength=n_groups)
        # crd/val: per row its crds then a stop; a group without rows is one lone stop
        flush_len = per_group + np.maximum(rows_per_group, 1)
        n_out = int(flush_len.sum()) + 1
        row_end = np.ones(len(uniq), dtype=bool)
        row_end[:-1] = new_row[1:]
        width = 1 + row_end.astype(
            np.int64, copy=False
        )  # an entry, plus the stop that ends its row
        slots = np.cumsum(width) - width
        group_start = np.searchsorted(ug, np.arange(n_groups))
        local = slots - slots[group_start[ug]]  # a group with entries starts at one
        g_base = np.cumsum(flush_len) - flush_len
        data_pos = g_base[ug] + local
        ctl = np.full(n_out, -100, dtype=np.int16)
        ctl[data_pos] = DATA
        ctl[data_pos[row_end] + 1] = 0
        ctl[g_base + flush_len - 1] = level - 1
        ctl[-1] = DONE
        outs_ctl = [ctl]
        outs_val = [(data_pos, uc)]
        # outer: each row's coordinate then S(k-2), emitted with the row's first crd
        o_stop_steps = g_base + flush_len - 1
        n_o = int(new_row.sum()) + n_groups + 1
        octl = np.full(n_o, DATA, dtype=np.int16)
        o_stop = np.cumsum(rows_per_group + 1) - 1
        octl[o_stop] = level - 2
        octl[-1] = DONE
        o_data = np.flatnonzero(octl == DATA)
        oval = np.zeros(n_o, dtype=np.int64)
        oval[o_data] = uo[new_row]
        outer_out = (octl, oval, data_pos[new_row], o_stop_steps)
    crd_val = np.zeros(n_out, dtype=np.int64)
    crd_val[outs_val[0][0]] = outs_val[0][1]
    vals = np.zeros((n_out,) + val.val.shape[1:])
    vals[outs_val[0][0]] = sums
    outputs = [Tokens(outs_ctl[0], crd_val), Tokens(outs_ctl[0], vals)]
    if outer_out is not None:
        outputs.insert(0, Tokens(outer_out[0], outer_out[1]))
    n = len(val.ctl)

    def plan() -> StepPlan:
        # one step per input token; a flush adds one step per token it emits beyond the first
        shift = np.zeros(n_groups + 1, dtype=np.int64)  # extra steps before each group
        np.cumsum(flush_len - 1, out=shift[1:])
        step_of = np.arange(n, dtype=np.int64)
        step_of += np.repeat(shift, seg_len)
        g_first_step = step_of[flush_tok]
        g_base_out = np.cumsum(flush_len) - flush_len
        emit = np.empty(n_out, dtype=np.int64)
        emit[:-1] = np.arange(n_out - 1) + np.repeat(g_first_step - g_base_out, flush_len)
        emit[-1] = step_of[-1]
        emits = [emit, emit]
        if outer_out is not None:
            octl, _, row_first, o_stop_steps = outer_out
            o_emit = np.empty(len(octl), dtype=np.int64)
            o_emit[octl == DATA] = emit[row_first]
            o_emit[o_stop] = emit[o_stop_steps]
            o_emit[-1] = step_of[-1]
            emits.insert(0, o_emit)
        consume = [taken_with_kept(keep, step_of) for keep in keeps]
        return StepPlan(int(step_of[-1]) + 1, consume, emits)

    return Result(outputs, plan)
