"""Rules of the bit-vector primitives: `bv` (a fiber of coordinates -> one mask token) and
`bv_chunk` (a mask -> fixed-width chunks), SAM's `BV` and `ChunkBV`.

A bit-vector stream keeps the stop structure of the coordinates it came from; each
non-empty fiber holds exactly one data token, the OR of `1 << c` over its coordinates.
Masks are int64 tokens, so coordinates stop at 62 (`MAX_BV_BITS`).
"""

from __future__ import annotations

import numpy as np

from dsl.sam.ir import Node
from dsl.sam.primitives import MAX_BV_BITS
from interpreter.errors import ExecutionError
from interpreter.sam.rules import Context, Result, StepPlan, rule
from interpreter.sam.streams import DATA, EMPTY, Tokens, check_well_formed, fiber_ids


@rule("bv")
def bv(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    """Coordinates are taken one per step and emit nothing; a stop closing a non-empty
    fiber emits the fiber's mask at its step and itself one step later; a bare stop and
    `D` pass at their own step."""
    s = ins[0]
    check_well_formed(s, node.label)
    if (s.ctl == EMPTY).any():
        t = int(np.flatnonzero(s.ctl == EMPTY)[0])
        raise ExecutionError(f"{node.label}: token {t} is N; a bit vector holds coordinates")
    data = s.ctl == DATA
    if len(s.ctl) > 1 and s.ctl[-2] == DATA:
        raise ExecutionError(f"{node.label}: the last coordinates are not closed by a stop")
    c = s.val[data]
    if len(c) and (c.min() < 0 or c.max() >= MAX_BV_BITS):
        bad = int(c.max() if c.max() >= MAX_BV_BITS else c.min())
        raise ExecutionError(
            f"{node.label}: coordinate {bad} does not fit a {MAX_BV_BITS}-bit vector (0..62)"
        )
    n = len(s.ctl)
    fib = fiber_ids(s.ctl)
    masks = np.zeros(int(fib[-1]) + 1, dtype=np.int64)
    np.bitwise_or.at(masks, fib[data], np.left_shift(np.int64(1), c))
    closes = (s.ctl >= 0) & np.r_[False, data[:-1]]  # a stop right after a coordinate
    extra = np.cumsum(closes) - closes  # steps spent emitting masks before token t
    step = np.arange(n) + extra  # step that takes token t
    kept = int((~data).sum())
    out_pos = np.arange(kept) + np.cumsum(closes)[~data]  # a mask goes before its stop
    m = kept + int(closes.sum())
    ctl = np.full(m, DATA, dtype=s.ctl.dtype)
    val = np.zeros(m, dtype=np.int64)
    ctl[out_pos] = s.ctl[~data]
    mask_pos = out_pos[closes[~data]] - 1
    val[mask_pos] = masks[fib[closes]]
    emit = np.sort(np.r_[step[~data] + closes[~data], step[closes]])  # mask, then its stop
    return Result([Tokens(ctl, val)], StepPlan(n + int(closes.sum()), [step], [emit]))


@rule("bv_chunk")
def bv_chunk(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    """Each mask becomes ceil(size / width) tokens of `width` bits, lowest first; stops and
    `D` pass. One step per output token."""
    s = ins[0]
    check_well_formed(s, node.label)
    width, size = node.attrs["width"], node.attrs["size"]
    data = s.ctl == DATA
    if (s.ctl == EMPTY).any() or (s.val[data] < 0).any():
        raise ExecutionError(f"{node.label}: a bit-vector stream holds masks only")
    if (s.val[data] >> size).any():
        raise ExecutionError(f"{node.label}: a mask has bits at or above size {size}")
    k = -(-size // width)
    reps = np.where(data, k, 1)
    ctl = np.repeat(s.ctl, reps)
    val = np.repeat(s.val, reps)
    first = np.cumsum(reps) - reps
    part = np.arange(len(ctl)) - np.repeat(first, reps)  # chunk index within its mask
    val = np.where(ctl == DATA, (val >> (width * part)) & ((1 << width) - 1), 0)
    return Result([Tokens(ctl, val)], StepPlan(len(ctl), [first], [None]))
