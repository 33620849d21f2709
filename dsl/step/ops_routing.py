"""STeP dynamic routing: partition chunks among consumers, reassemble and merge them back."""

from __future__ import annotations

from dsl.core.spec import VALUE_TIMED
from dsl.step.ops_common import (
    REQUIRED_ATTR,
    RuleEnv,
    RuleError,
    absorb,
    check_rank,
    need_selector,
    op,
    same_shape,
)
from dsl.step.symbolic import RAGGED, Expr, shape_str
from dsl.step.types import ElemType, Selector, StreamType, Tile


def _merge_inputs(xs: list[StreamType], b: int, env: RuleEnv) -> ElemType:
    """Element type of a stream merged from `xs` (all rank b, same inner dims). Tiles whose
    symbolic sizes differ (dynamic tiles of different experts) merge into a ragged size."""
    first = xs[0].elem
    rows, cols = (first.rows, first.cols) if isinstance(first, Tile) else (None, None)
    for i, x in enumerate(xs):
        if x.rank != b:
            raise RuleError(f"every input must have rank {b}, got {x}", f"x{i}")
        if not same_shape(x.shape[1:], xs[0].shape[1:]):
            raise RuleError(f"inner dims disagree: {xs[0]} vs {x}", f"x{i}")
        e = x.elem
        if e == first:
            continue
        if not (
            isinstance(e, Tile)
            and isinstance(first, Tile)
            and e.dtype == first.dtype
            and not (e.rows.is_static and first.rows.is_static and e.rows != first.rows)
            and not (e.cols.is_static and first.cols.is_static and e.cols != first.cols)
        ):
            raise RuleError(f"element types disagree: {first} vs {e}", f"x{i}")
        rows = rows if e.rows == first.rows else None
        cols = cols if e.cols == first.cols else None
    if isinstance(first, Tile) and (rows is None or cols is None):
        return Tile(
            first.dtype,
            rows if rows is not None else env.fresh(RAGGED),
            cols if cols is not None else env.fresh(RAGGED),
        )
    return first


@op(
    "partition",
    "x,sel",
    "many",
    "Route each chunk of x (its inner `rank` dims, i.e. the data up to the next S_rank) to "
    "every consumer chosen by the matching selector element. sel.shape = x.shape without "
    "the inner `rank` dims; output i: Stream<T>[n_i, inner dims...] with n_i fresh.",
    num_consumers=("pos_int", REQUIRED_ATTR),
    rank=("nat", 0),
    flags=(VALUE_TIMED,),
)
def _partition(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    x, sel, b, n = ins[0], ins[1], attrs["rank"], attrs["num_consumers"]
    check_rank(b, 0, x.rank, "rank", x)
    need_selector(sel, n, "sel")
    outer = x.shape[: len(x.shape) - b]
    if not same_shape(sel.shape, outer):
        raise RuleError(
            f"sel shape {shape_str(sel.shape)} must equal x's outer dims "
            f"{shape_str(outer)} (x {shape_str(x.shape)}, rank={b})",
            "sel",
        )
    inner = x.shape[len(x.shape) - b :]
    return [StreamType(x.elem, (env.fresh(),) + inner) for _ in range(n)]


@op(
    "reassemble",
    "x*,sel",
    "one",
    "Inverse of partition: for each selector element take one chunk (up to S_rank) from "
    "every chosen input, in ascending input order, and close the group with a new stop. "
    "Output: Stream<T>[sel dims..., r (ragged: how many chosen), inner dims...].",
    rank=("nat", 0),
    flags=(VALUE_TIMED,),
)
def _reassemble(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    xs, sel, b = ins[:-1], ins[-1], attrs["rank"]
    need_selector(sel, len(xs), "sel")
    elem = _merge_inputs(xs, b, env)
    return [StreamType(elem, sel.shape + (env.fresh(RAGGED),) + xs[0].shape[1:])]


@op(
    "eager_merge",
    "x*",
    "many",
    "Merge chunks (up to S_rank) of the inputs in arrival order, never interleaving two "
    "chunks; also emit a Selector[n] stream saying where each chunk came from. "
    "Outputs: (Stream<T>[sum n_i, inner...], Stream<Selector[n]>[sum n_i]).",
    rank=("nat", 0),
    flags=(VALUE_TIMED,),
)
def _eager_merge(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    elem = _merge_inputs(ins, attrs["rank"], env)
    total = absorb(sum((x.shape[0] for x in ins), Expr.const(0)), env)
    return [StreamType(elem, (total,) + ins[0].shape[1:]), StreamType(Selector(len(ins)), (total,))]
