"""Rules of the primitives that move streams: broadcast, fork, join, and the writers."""

from __future__ import annotations

import numpy as np

from dsl.sam.formats import COMPRESSED
from dsl.sam.ir import Node
from interpreter.errors import ExecutionError
from interpreter.sam.rules import Context, Result, StepPlan, one_to_one, rule
from interpreter.sam.streams import DATA, DONE, EMPTY, Tokens, check_well_formed, fiber_ids


@rule("broadcast")
def broadcast(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    s = ins[0]
    check_well_formed(s, node.label())
    n = node.attrs["n"]
    outs = [Tokens(s.ctl, s.val) for _ in range(n)]  # streams are never written in place
    return Result(outs, one_to_one(len(s.ctl), 1, n))


def _lanes_of(ctl: np.ndarray, lanes: int) -> np.ndarray:
    """Lane of every token: data token t of its fiber goes to lane t mod lanes; -1 for stops
    and D (they go to every lane)."""
    item = (ctl == DATA) | (ctl == EMPTY)
    before = np.cumsum(item) - item
    fib = fiber_ids(ctl)
    first = np.flatnonzero(np.r_[True, fib[1:] != fib[:-1]])
    local = before - before[first][np.searchsorted(first, np.arange(len(ctl)), "right") - 1]
    return np.where(item, local % lanes, -1)


@rule("fork")
def fork(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    s = ins[0]
    check_well_formed(s, node.label())
    lane = _lanes_of(s.ctl, node.attrs["lanes"])
    steps = np.arange(len(s.ctl), dtype=np.int64)
    outs, emits = [], []
    for k in range(node.attrs["lanes"]):
        mask = (lane == k) | (lane == -1)
        outs.append(Tokens(s.ctl[mask], s.val[mask]))
        emits.append(steps[mask])
    return Result(outs, StepPlan(len(s.ctl), [None], emits))


def _join_flat(node: Node, order: Tokens, lanes: list[Tokens]) -> Result:
    """Depth 0: re-interleave the data tokens. A lane dealt nothing in a fiber may hold one
    value there (a reduced phantom), which is dropped."""
    lane = _lanes_of(order.ctl, len(lanes))
    n = len(order.ctl)
    order_stop = np.flatnonzero(order.ctl >= 0)
    order_fib = fiber_ids(order.ctl)
    n_fib = len(order_stop)
    ctl = order.ctl.copy()
    val = None
    consume: list[np.ndarray | None] = [None]
    for k, s in enumerate(lanes):
        stops = np.flatnonzero(s.ctl >= 0)
        if len(stops) != n_fib or not np.array_equal(s.ctl[stops], order.ctl[order_stop]):
            raise ExecutionError(
                f"{node.label()}: lane{k} does not have the fibers of the order"
                " stream (depth 0 expects the forked fiber structure)"
            )
        items = np.flatnonzero((s.ctl == DATA) | (s.ctl == EMPTY))
        fib = fiber_ids(s.ctl)[items]
        dealt = np.bincount(order_fib[lane == k], minlength=n_fib)
        have = np.bincount(fib, minlength=n_fib)
        ok = (have == dealt) | ((dealt == 0) & (have == 1))
        if not ok.all():
            f = int(np.flatnonzero(~ok)[0])
            raise ExecutionError(
                f"{node.label()}: lane{k} holds {have[f]} values in fiber {f},"
                f" the fork dealt it {dealt[f]}"
            )
        real = dealt[fib] > 0
        if val is None:
            val = np.zeros((n,) + s.val.shape[1:], dtype=s.val.dtype)
        target = np.flatnonzero(lane == k)
        val[target] = s.val[items[real]]
        ctl[target] = s.ctl[items[real]]
        steps = np.empty(len(s.ctl), dtype=np.int64)
        steps[items[real]] = target
        steps[items[~real]] = order_stop[fib[~real]]
        steps[stops] = order_stop
        steps[-1] = n - 1
        consume.append(steps)
    return Result([Tokens(ctl, val)], StepPlan(n, consume, [None]))


def _units(s: Tokens, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """(first token, closing stop token) of each depth-`depth` unit of a lane stream."""
    close = np.flatnonzero(s.ctl >= depth - 1)
    start = np.r_[0, close[:-1] + 1] if len(close) else close
    return start, close


def _join_nested(node: Node, order: Tokens, lanes: list[Tokens], d: int) -> Result:
    n_lanes = len(lanes)
    bounds = [_units(s, d) for s in lanes]
    cursor = [0] * n_lanes
    pieces: list[tuple[int, int, int, int]] = []  # lane, first, last token, stop level
    order_steps = np.zeros(len(order.ctl), dtype=np.int64)
    phantoms: list[tuple[int, int, int]] = []  # lane, token, step consumed
    fiber_items: list[int] = []
    out_len = 0

    def take(k: int, want_close: int, where: str) -> tuple[int, int]:
        if cursor[k] >= len(bounds[k][0]):
            raise ExecutionError(f"{node.label()}: lane{k} ran out of units ({where})")
        first, last = bounds[k][0][cursor[k]], bounds[k][1][cursor[k]]
        level = int(lanes[k].ctl[last])
        if level != want_close:
            raise ExecutionError(
                f"{node.label()}: lane{k} unit ends with S{level}, expected S{want_close} ({where})"
            )
        cursor[k] += 1
        return int(first), int(last)

    ctl = order.ctl
    for t in range(len(ctl)):
        code = int(ctl[t])
        if code in (DATA, EMPTY):
            fiber_items.append(t)
            continue
        if code == DONE:
            break
        level = d + code
        counts = [0] * n_lanes
        for i in range(len(fiber_items)):
            counts[i % n_lanes] += 1
        seen = [0] * n_lanes
        for i, ot in enumerate(fiber_items):
            k = i % n_lanes
            seen[k] += 1
            lane_last = seen[k] == counts[k]
            first, last = take(k, level if lane_last else d - 1, f"order token {ot}")
            order_steps[ot] = out_len
            out_level = level if i == len(fiber_items) - 1 else d - 1
            pieces.append((k, first, last, out_level))
            out_len += last - first + 1
        pending = []
        for k in range(n_lanes):
            if counts[k] == 0:
                first, last = take(k, level, f"empty share of the fiber ending at token {t}")
                if last != first:
                    raise ExecutionError(
                        f"{node.label()}: lane{k} holds data where the fork dealt it nothing"
                    )
                pending.append((k, last))
        if not fiber_items:
            pieces.append((-1, t, t, level))
            out_len += 1
        phantoms += [(k, last, out_len - 1) for k, last in pending]
        order_steps[t] = out_len - 1
        fiber_items = []
    for k in range(n_lanes):
        if cursor[k] != len(bounds[k][0]):
            raise ExecutionError(f"{node.label()}: lane{k} has units the fork never dealt")
    total = out_len + 1
    proto = lanes[0].val
    out_ctl = np.empty(total, dtype=np.int16)
    out_val = np.zeros((total,) + proto.shape[1:], dtype=proto.dtype)
    consume = [order_steps] + [np.zeros(len(s.ctl), dtype=np.int64) for s in lanes]
    pos = 0
    for k, first, last, level in pieces:
        size = last - first + 1
        if k >= 0:
            out_ctl[pos : pos + size] = lanes[k].ctl[first : last + 1]
            out_val[pos : pos + size] = lanes[k].val[first : last + 1]
            consume[k + 1][first : last + 1] = np.arange(pos, pos + size)
        out_ctl[pos + size - 1] = level
        pos += size
    for k, last, step in phantoms:
        consume[k + 1][last] = step
    for k in range(n_lanes):
        consume[k + 1][-1] = total - 1
    out_ctl[-1] = DONE
    order_steps[-1] = total - 1
    return Result([Tokens(out_ctl, out_val)], StepPlan(total, consume, [None]))


@rule("join")
def join(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    for s in ins:
        check_well_formed(s, node.label())
    order, lanes = ins[0], ins[1:]
    d = node.attrs["depth"]
    return _join_flat(node, order, lanes) if d == 0 else _join_nested(node, order, lanes, d)


def _writer(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    s = ins[0]
    check_well_formed(s, node.label())
    n = len(s.ctl)
    decl = ctx.decls[node.attrs["tensor"]]
    data = (s.ctl == DATA) | (s.ctl == EMPTY)
    if not ctx.memory_steps:
        memory = None
    elif node.op == "write_vals":
        memory = np.repeat(np.flatnonzero(data), decl.block**2)
    elif decl.levels[node.attrs["level"]] == COMPRESSED:
        memory = np.flatnonzero(data | (s.ctl >= 0))  # crd per coordinate, seg per fiber
    else:
        memory = None
    return Result([], StepPlan(n, [None], [], memory=memory))


rule("write_level")(_writer)
rule("write_vals")(_writer)
