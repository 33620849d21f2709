"""Rules of the bit-vector primitives, SAM's `BV`, `ChunkBV`, `BVDrop`, `IntersectBV2` and
`BVRdScan`: `bv` (a fiber of coordinates -> one mask token), `bv_chunk` (a mask ->
fixed-width chunks), `bv_drop`, `intersect_bv` and `scan_bv` (a level's fibers as masks).

A bit-vector stream keeps the stop structure of the coordinates it came from; each
non-empty fiber holds exactly one data token, the OR of `1 << c` over its coordinates.
Masks are int64 tokens, so coordinates stop at 62 (`MAX_BV_BITS`).
"""

from __future__ import annotations

import numpy as np

from dsl.sam.formats import COMPRESSED
from dsl.sam.ir import Node
from dsl.sam.primitives import MAX_BV_BITS
from interpreter.errors import ExecutionError
from interpreter.sam.rules import Context, Result, StepPlan, rule
from interpreter.sam.streams import (
    DATA,
    DONE,
    EMPTY,
    Tokens,
    check_well_formed,
    fiber_ids,
    fibers,
    parent_consumption,
    units,
)
from interpreter.sam.walk import parent_refs


@rule("bv")
def bv(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    """Coordinates are taken one per step and emit nothing; a stop closing a non-empty
    fiber emits the fiber's mask at its step and itself one step later; a bare stop and
    `D` pass at their own step."""
    s = ins[0]
    check_well_formed(s, node.label())
    if (s.ctl == EMPTY).any():
        t = int(np.flatnonzero(s.ctl == EMPTY)[0])
        raise ExecutionError(f"{node.label()}: token {t} is N; a bit vector holds coordinates")
    data = s.ctl == DATA
    if len(s.ctl) > 1 and s.ctl[-2] == DATA:
        raise ExecutionError(f"{node.label()}: the last coordinates are not closed by a stop")
    c = s.val[data]
    if len(c) and (c.min() < 0 or c.max() >= MAX_BV_BITS):
        bad = int(c.max() if c.max() >= MAX_BV_BITS else c.min())
        raise ExecutionError(
            f"{node.label()}: coordinate {bad} does not fit a {MAX_BV_BITS}-bit vector (0..62)"
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
    check_well_formed(s, node.label())
    width, size = node.attrs["width"], node.attrs["size"]
    data = s.ctl == DATA
    if (s.ctl == EMPTY).any() or (s.val[data] < 0).any():
        raise ExecutionError(f"{node.label()}: a bit-vector stream holds masks only")
    if (s.val[data] >> size).any():
        raise ExecutionError(f"{node.label()}: a mask has bits at or above size {size}")
    k = -(-size // width)
    reps = np.where(data, k, 1)
    ctl = np.repeat(s.ctl, reps)
    val = np.repeat(s.val, reps)
    first = np.cumsum(reps) - reps
    part = np.arange(len(ctl)) - np.repeat(first, reps)  # chunk index within its mask
    val = np.where(ctl == DATA, (val >> (width * part)) & ((1 << width) - 1), 0)
    return Result([Tokens(ctl, val)], StepPlan(len(ctl), [first], [None]))


def _collapse(s: Tokens) -> tuple[Tokens, np.ndarray]:
    """`empty_stkn_drop`'s tokens: leading stops go, each run of stops becomes its highest.
    Returns the stream and, per input token, whether it is kept as itself."""
    stop = s.ctl >= 0
    lead = stop & (np.cumsum(~stop) == 0)
    last_of_run = stop & ~lead & ~np.r_[stop[1:], False]
    run_id = np.cumsum(~stop)  # the stops of one run share it
    level = np.zeros(len(s.ctl), dtype=np.int64)
    np.maximum.at(level, run_id[stop & ~lead], s.ctl[stop & ~lead])
    keep = ~stop | last_of_run
    ctl = np.where(last_of_run, level[run_id], s.ctl).astype(s.ctl.dtype)
    return Tokens(ctl[keep], s.val[keep]), keep


@rule("bv_drop")
def bv_drop(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    """Each set bit of an outer mask owns one inner fiber, in bit order (a bare outer stop
    owns one, empty). Bits whose inner fiber is empty are cleared, masks left 0 go, and
    both streams lose their empty fibers as `empty_stkn_drop` drops them (SAM's
    `BVDrop`). One step per input token."""
    outer, inner = ins
    for s in ins:
        check_well_formed(s, node.label())
    omask = outer.ctl == DATA
    bits = (outer.val[omask, None] >> np.arange(MAX_BV_BITS)) & 1 == 1
    owned = np.ones(len(outer.ctl), dtype=np.int64)  # inner fibers per outer token
    owned[omask] = bits.sum(axis=1)
    stop = outer.ctl >= 0
    merged = stop & np.r_[False, omask[:-1]]  # a stop right after a mask owns nothing
    owned[merged | (outer.ctl == DONE)] = 0
    start, stop_tok, _ = fibers(inner.ctl)
    if owned.sum() != len(stop_tok):
        raise ExecutionError(
            f"{node.label()}: the inner stream has {len(stop_tok)} fibers, the outer masks"
            f" own {int(owned.sum())}"
        )
    full = stop_tok > start
    first = np.cumsum(owned) - owned  # first inner fiber of each outer token
    kept_bits = np.zeros_like(bits)
    kept_bits[bits] = full[np.repeat(first[omask], bits.sum(axis=1)) + _rank_in_row(bits)]
    masks = (kept_bits.astype(np.int64) << np.arange(MAX_BV_BITS)).sum(axis=1)
    o_val = outer.val.copy()
    o_val[omask] = masks
    alive = ~omask
    alive[omask] = masks != 0
    o_out, o_keep = _collapse(Tokens(outer.ctl[alive], o_val[alive]))
    i_out, i_keep = _collapse(inner)
    # an outer token is taken once the closing stop of its last inner fiber is: the steps
    # interleave the two inputs, one token per step
    last = np.where(owned > 0, stop_tok[np.minimum(first + owned - 1, len(stop_tok) - 1)], -1)
    last[-1] = len(inner.ctl) - 1
    last = np.maximum.accumulate(last)
    step_out = last + 1 + np.arange(len(outer.ctl))
    step_in = np.arange(len(inner.ctl)) + np.searchsorted(last, np.arange(len(inner.ctl)))
    emit = [step_out[alive][o_keep], step_in[i_keep]]
    plan = StepPlan(len(outer.ctl) + len(inner.ctl), [step_out, step_in], emit)
    return Result([o_out, i_out], plan)


def _rank_in_row(bits: np.ndarray) -> np.ndarray:
    """For every set entry of a boolean matrix (row-major order), its rank within its row."""
    ranks = np.cumsum(bits, axis=1) - 1
    return ranks[bits]


@rule("intersect_bv")
def intersect_bv(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    """Two aligned (mask, base ref) pairs (SAM's `IntersectBV2`): the AND of each pair of
    masks, dropped when 0; each input's refs, one per bit of the AND, are its base ref plus
    the number of its own mask's bits below that bit. One step per output ref (a mask
    whose AND is 0 takes one step); stops pass at their own step."""
    bv1, ref1, bv2, ref2 = ins
    where = node.label()
    for s in ins:
        check_well_formed(s, where)
    for a, b, names in ((bv1, ref1, "bv1/ref1"), (bv2, ref2, "bv2/ref2"), (bv1, bv2, "bv1/bv2")):
        if not np.array_equal(a.ctl, b.ctl):
            raise ExecutionError(f"{where}: {names} are not token-aligned")
    data = bv1.ctl == DATA
    both = np.where(data, bv1.val & bv2.val, 0)
    bits = (both[:, None] >> np.arange(MAX_BV_BITS)) & 1 == 1
    count = bits.sum(axis=1)
    k = np.where(data, np.maximum(count, 1), 1)
    first = np.cumsum(k) - k
    row, bit = np.nonzero(bits)
    pos = np.r_[first[row] + _rank_in_row(bits), first[~data]]  # refs, then stops
    order = np.argsort(pos, kind="stable")

    def refs(mask: np.ndarray, base: Tokens) -> Tokens:
        own = (np.where(data, mask, 0)[:, None] >> np.arange(MAX_BV_BITS)) & 1
        rank = (np.cumsum(own, axis=1) - 1)[row, bit]  # own bits below, at an AND bit
        ctl = np.r_[np.full(len(row), DATA), base.ctl[~data]].astype(base.ctl.dtype)
        val = np.r_[base.val[row] + rank, np.zeros(int((~data).sum()), dtype=np.int64)]
        return Tokens(ctl[order], val[order])

    keep = ~data | (count > 0)
    out_bv = Tokens(bv1.ctl[keep], both[keep])
    r1, r2 = refs(bv1.val, ref1), refs(bv2.val, ref2)
    plan = StepPlan(int(k.sum()), [first] * 4, [first[keep], pos[order], pos[order]])
    return Result([out_bv, r1, r2], plan)


@rule("scan_bv")
def scan_bv(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    """SAM's `BVRdScan` over our storage: like `scan`, but each fiber leaves as one mask
    (its coordinates' bits) with one ref, the position of its first coordinate; an empty
    fiber leaves only its stop. One step per output token; a fiber's seg words and its
    coordinates are read to build the mask (the memory a compressed level holds)."""
    ref = ins[0]
    check_well_formed(ref, node.label())
    ft, lv = ctx.tensor(node), node.attrs["level"]
    u = units(ref.ctl)
    r = parent_refs(node, ref, ctx, u.token)
    is_data = u.is_item & (ref.ctl[u.token] == DATA)
    compressed = ft.level_format(lv) == COMPRESSED
    if compressed and len(ft.segs[lv]) > 1:
        begin = ft.segs[lv][r]
        length = np.where(is_data, ft.segs[lv][r + 1] - begin, 0)
    else:
        size = 0 if compressed else ft.sizes[lv]
        begin, length = r * size, np.where(is_data, size, 0)
    owner = np.repeat(np.arange(len(r)), length)
    pos = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
    crd = ft.crds[lv][pos + begin[owner]] if compressed else pos
    if len(crd) and crd.max() >= MAX_BV_BITS:
        raise ExecutionError(
            f"{node.label()}: coordinate {int(crd.max())} of {ft.decl.name!r} level {lv} does"
            f" not fit a {MAX_BV_BITS}-bit vector"
        )
    masks = np.zeros(len(r), dtype=np.int64)
    np.bitwise_or.at(masks, owner, np.left_shift(np.int64(1), crd.astype(np.int64)))
    full = length > 0
    per_unit = full + 1
    ends = np.cumsum(per_unit)
    total = int(ends[-1]) + 1 if len(ends) else 1
    first_pos, close_pos = ends - per_unit, ends - 1
    ctl = np.full(total, DATA, dtype=np.int16)
    ctl[close_pos] = u.close
    ctl[-1] = DONE
    bv_val, ref_val = np.zeros(total, dtype=np.int64), np.zeros(total, dtype=np.int64)
    bv_val[first_pos[full]], ref_val[first_pos[full]] = masks[full], begin[full]

    def plan() -> StepPlan:
        consume = parent_consumption(u, len(ref.ctl), first_pos, close_pos, total - 1)
        return StepPlan(total, [consume], [None, None])

    return Result([Tokens(ctl, bv_val), Tokens(ctl, ref_val)], plan)
