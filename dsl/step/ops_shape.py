"""STeP shape ops: they rewrite stop tokens (or copy, pair or drop streams), never values."""

from __future__ import annotations

from dsl.step.ops_common import (
    REQUIRED_ATTR,
    RuleEnv,
    RuleError,
    absorb,
    check_rank,
    fn_args,
    need_tile,
    op,
    prod,
    same_shape,
)
from dsl.step.symbolic import RAGGED, Expr, shape_str
from dsl.step.types import StreamType, Tile, TupleT


@op(
    "flatten",
    "x",
    "one",
    "Merge dims min_dim..max_dim (counted from the innermost, 0) into one dim: drops the "
    "stop tokens between them. A ragged product becomes a fresh ragged dim.",
    min_dim=("nat", 0),
    max_dim=("nat", 1),
)
def _flatten(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    x, lo, hi = ins[0], attrs["min_dim"], attrs["max_dim"]
    if not 0 <= lo < hi <= x.rank:
        raise RuleError(f"needs 0 <= min_dim < max_dim <= rank, got {lo}, {hi} for {x}", "x")
    n = len(x.shape)
    merged = absorb(prod(x.shape[n - 1 - hi : n - lo]), env)
    return [StreamType(x.elem, x.shape[: n - 1 - hi] + (merged,) + x.shape[n - lo :])]


@op(
    "reshape",
    "x",
    "many",
    "Split dim `dim` into (cdiv(d, chunk), chunk): a stop every `chunk` elements. When d "
    "is not a known multiple of chunk the last chunk is short and the new dim is ragged. "
    "pad=True (dim 0, static tiles): the short last chunk of every run is filled up to "
    "`chunk` with zero tiles, so every chunk has exactly `chunk` elements, and a second "
    "output flags each element (int64 [1, 1]: 1 = padding, 0 = data).",
    chunk=("pos_int", REQUIRED_ATTR),
    dim=("nat", 0),
    pad=("bool", False),
)
def _reshape(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    x, c, k = ins[0], attrs["chunk"], attrs["dim"]
    check_rank(k, 0, x.rank, "dim", x)
    pos = len(x.shape) - 1 - k
    d = x.shape[pos]
    outer = absorb(d.cdiv(c), env)
    if attrs["pad"]:
        if k != 0:
            raise RuleError(f"pad=True pads the innermost dim only (dim=0), got dim={k}", "x")
        need_tile(x, "x", static=True)
        shape = x.shape[:pos] + (outer, Expr.const(c))
        return [
            StreamType(x.elem, shape),
            StreamType(Tile("int64", Expr.const(1), Expr.const(1)), shape),
        ]
    exact = d.is_static and d.value % c == 0
    inner = Expr.const(c) if exact else env.fresh(RAGGED)
    return [StreamType(x.elem, x.shape[:pos] + (outer, inner) + x.shape[pos + 1 :])]


@op(
    "promote",
    "x",
    "one",
    "Insert a dim of size 1 at position `dim` (default: a new outermost dim, which is 1 "
    "for a non-empty stream and 0 for an empty one).",
    dim=("nat", None),
)
def _promote(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    x = ins[0]
    k = x.rank + 1 if attrs["dim"] is None else attrs["dim"]
    check_rank(k, 0, x.rank + 1, "dim", x)
    pos = len(x.shape) - k
    new = Expr.const(1)
    if k == x.rank + 1 and not (x.shape[0].is_static and x.shape[0].value > 0):
        new = env.fresh()
    return [StreamType(x.elem, x.shape[:pos] + (new,) + x.shape[pos:])]


@op(
    "expand",
    "x,ref",
    "one",
    "Repeat each element of x over the matching sub-stream of ref. x.shape (minus trailing "
    "static 1s) must be a prefix of ref.shape; output shape: ref.shape.",
)
def _expand(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    x, ref = ins
    kept = list(x.shape)
    while len(kept) > 1 and kept[-1] == 1:
        kept.pop()
    if kept == [Expr.const(1)]:
        kept = []
    if len(kept) > len(ref.shape) or not same_shape(tuple(kept), ref.shape[: len(kept)]):
        raise RuleError(
            f"x shape {shape_str(x.shape)} is not a prefix of ref shape {shape_str(ref.shape)}",
            "ref",
        )
    return [StreamType(x.elem, ref.shape)]


@op(
    "repeat",
    "x",
    "one",
    "Repeat every element `count` times, adding an innermost dim: shape + [count].",
    count=("dim", REQUIRED_ATTR),
)
def _repeat(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    if attrs["count"].is_ragged:
        raise RuleError("count cannot be ragged")
    return [StreamType(ins[0].elem, ins[0].shape + (attrs["count"],))]


@op("zip", "x*", "one", "Pair up elements of equally shaped streams into tuples.")
def _zip(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    if len(ins) < 2:
        raise RuleError("needs at least two streams")
    return [StreamType(TupleT(fn_args(ins)), ins[0].shape)]


@op(
    "copy",
    "x",
    "many",
    "Duplicate a stream into n identical streams (streams are affine).",
    n=("pos_int", 2),
)
def _copy(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    if attrs["n"] < 2:
        raise RuleError(f"n must be at least 2, got {attrs['n']}")
    return [ins[0]] * attrs["n"]


@op(
    "sink",
    "x",
    "none",
    "Consume and discard every element of x (one per cycle): the end of a stream nothing "
    "needs, such as eager_merge's selector output or reshape's padding flags.",
)
def _sink(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    return []


@op(
    "assume_shape",
    "x",
    "one",
    "Restate x's shape (e.g. name a ragged dim as a known one); the interpreter checks the "
    "claim on every run and fails the program if it is false.",
    shape=("shape", REQUIRED_ATTR),
)
def _assume_shape(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    x, shape = ins[0], attrs["shape"]
    if len(shape) != len(x.shape):
        raise RuleError(
            f"shape {shape_str(shape)} has rank {len(shape) - 1}, x has "
            f"{x.rank} ({shape_str(x.shape)})",
            "x",
        )
    for old, new in zip(x.shape, shape, strict=True):
        if old.is_static and new.is_static and old != new:
            raise RuleError(f"shape {shape_str(shape)} contradicts {shape_str(x.shape)}", "x")
    return [StreamType(x.elem, tuple(shape))]
