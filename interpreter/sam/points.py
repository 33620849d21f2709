"""Rules of the coordinate-point primitives: `crdpt_accumulate` (SAM's
`SparseCrdPtAccumulator1/2`) and `crdpt_convert` (SAM's `CrdPtConverter`).

A point stream lists one coordinate per point and no stops between points (data tokens, then
`D`); streams of one point set are aligned token for token. An unordered producer (an
outer-product SpGEMM's partial products) emits points; the accumulator sums repeated points
and sorts them, and the converter turns sorted points back into fibers. SAM's `spacc` on
points is the two in a row (tests/interpreter/sam/test_sam_conformance.py).
"""

from __future__ import annotations

import numpy as np

from dsl.sam.ir import Node
from interpreter.errors import ExecutionError
from interpreter.sam.rules import Context, Result, StepPlan, rule
from interpreter.sam.streams import DATA, DONE, EMPTY, Tokens, check_well_formed
from interpreter.sam.tiling import group_runs


def _points(s: Tokens, where: str, port: str, stops: bool = False) -> np.ndarray:
    """Mask of the points of a point stream; refuses `N`, and stops unless `stops`."""
    check_well_formed(s, where)
    if (s.ctl == EMPTY).any() or (not stops and (s.ctl >= 0).any()):
        t = int(np.flatnonzero((s.ctl == EMPTY) | ((s.ctl >= 0) & (not stops)))[0])
        raise ExecutionError(f"{where}: {port} token {t} is not a point (a number or D)")
    return s.ctl == DATA


@rule("crdpt_accumulate")
def crdpt_accumulate(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    """Takes one point per step, then at `D` emits the distinct (outer, inner) points in
    order with their sums, one per step, and `D`."""
    outer, inner, val = ins
    counts = {len(s.ctl) for s in ins}
    for port, s in zip(("outer", "inner", "val"), ins, strict=True):
        _points(s, node.label(), port)
    if len(counts) != 1:
        raise ExecutionError(f"{node.label()}: outer, inner and val hold different point counts")
    if val.val.ndim != 1:  # its cost is one step per point: a block sum is spacc's b² work
        b = val.val.shape[-1]
        raise ExecutionError(f"{node.label()}: val holds {b}x{b} blocks; sum blocks with spacc")
    o, i, v = outer.val[:-1], inner.val[:-1], val.val[:-1]
    keys, where = np.unique(np.stack([o, i], axis=1), axis=0, return_inverse=True)
    sums = np.zeros(len(keys), dtype=np.float64)
    np.add.at(sums, where.reshape(-1), v)
    n, k = len(outer.ctl), len(keys)

    def stream(values: np.ndarray, dtype: type) -> Tokens:
        ctl = np.r_[np.full(k, DATA), DONE].astype(outer.ctl.dtype)
        return Tokens(ctl, np.r_[values, 0].astype(dtype))

    emit = n - 1 + np.arange(k + 1)  # the flush starts when D arrives
    plan = StepPlan(n + k, [None] * 3, [emit] * 3)
    return Result(
        [stream(keys[:, 0], np.int64), stream(keys[:, 1], np.int64), stream(sums, np.float64)],
        plan,
    )


@rule("crdpt_convert")
def crdpt_convert(node: Node, ins: list[Tokens], ctx: Context) -> Result:
    """Runs of equal outer points within a group become outer coordinates, each owning an
    inner fiber of its points' inner coordinates (or values). The outer stream may hold
    stops between groups of points; SAM's converter closes the whole set one level above
    them: the last stop before `D` is raised by one, or an S0 closes stop-free points.
    With `last_level=False` (SAM's converter under more levels) the inner stream's last
    stop is not raised: it closes only the last fiber. One step per inner output token."""
    outer, inner = ins
    data = _points(outer, node.label(), "outer", stops=True)
    _points(inner, node.label(), "inner")
    if int(data.sum()) != len(inner.ctl) - 1:
        raise ExecutionError(
            f"{node.label()}: {int(data.sum())} outer points but {len(inner.ctl) - 1} inner ones"
        )
    ctl = outer.ctl.copy()
    key = outer.val
    n = len(ctl)
    if n > 1 and ctl[-2] >= 0:
        ctl[-2] += 1
    elif n > 1 and (ctl >= 0).any():
        raise ExecutionError(f"{node.label()}: outer points after the last stop")
    else:  # stop-free points: one group, closed by an S0 taken with D
        ctl, key = np.r_[ctl[:-1], 0, DONE].astype(ctl.dtype), np.r_[key, 0]
    values = np.zeros(len(ctl), dtype=inner.val.dtype)
    values[ctl == DATA] = inner.val[:-1]
    out, inner_out, pos, outer_keep = group_runs(ctl, key, values)
    if not node.attrs.get("last_level", True):
        inner_out.ctl = inner_out.ctl.copy()
        inner_out.ctl[-2] -= 1  # the raised closing stop (>= 1) back to the fibers' level
    m = len(inner_out.ctl)
    take_outer = pos[:n] if len(ctl) == n else np.r_[pos[: n - 1], m - 1]
    take_inner = np.r_[pos[ctl == DATA], m - 1]
    return Result([out, inner_out], StepPlan(m, [take_outer, take_inner], [pos[outer_keep], None]))
