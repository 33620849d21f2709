"""STeP higher-order ops: map, accum, scan and flat_map apply library functions
(`dsl.step.functions`) to the elements of their inputs."""

from __future__ import annotations

from dsl.core.spec import USES_COMPUTE, VALUE_TIMED
from dsl.step.functions import FnRef, lookup
from dsl.step.ops_common import (
    REQUIRED_ATTR,
    RuleEnv,
    RuleError,
    absorb,
    check_rank,
    fn_args,
    op,
    prod,
)
from dsl.step.symbolic import Expr
from dsl.step.types import StreamType, Tile


def _call_fn(kind: str, fref: FnRef, args: tuple, *extra: object):
    decl = lookup(kind, fref.name)
    if len(args) != decl.arity:
        raise RuleError(f"{fref.name} takes {decl.arity} input(s), got {len(args)}")
    return decl.rule(args, dict(fref.args), fref.name, *extra)  # FnTypeError is a RuleError


@op(
    "map",
    "x*",
    "one",
    "Apply `fn` to every element (inputs zipped). Shape unchanged.",
    fn=("fn:map", REQUIRED_ATTR),
    compute=("pos_int", 1),
    flags=(USES_COMPUTE,),
)
def _map(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    return [StreamType(_call_fn("map", attrs["fn"], fn_args(ins)), ins[0].shape)]


@op(
    "accum",
    "x*",
    "one",
    "Fold the inner `rank` dims of each chunk with `fn` (from fn's init); one element per "
    "chunk. Stream[d_a..d_0] -> Stream[d_a..d_rank].",
    fn=("fn:accum", REQUIRED_ATTR),
    rank=("pos_int", REQUIRED_ATTR),
    compute=("pos_int", 1),
    flags=(USES_COMPUTE,),
)
def _accum(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    b = attrs["rank"]
    check_rank(b, 1, ins[0].rank, "rank", ins[0])
    count = prod(ins[0].shape[-b:])
    elem = _call_fn("accum", attrs["fn"], fn_args(ins), count)
    if isinstance(elem, Tile) and (elem.rows.is_ragged or elem.cols.is_ragged):
        elem = Tile(elem.dtype, absorb(elem.rows, env), absorb(elem.cols, env))
    return [StreamType(elem, ins[0].shape[:-b])]


@op(
    "scan",
    "x*",
    "one",
    "Like accum but emit the state after every element; the state restarts after each "
    "S_rank (rank = x.rank + 1: never restarts). Shape unchanged.",
    fn=("fn:scan", REQUIRED_ATTR),
    rank=("pos_int", REQUIRED_ATTR),
    compute=("pos_int", 1),
    flags=(USES_COMPUTE,),
)
def _scan(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    check_rank(attrs["rank"], 1, ins[0].rank + 1, "rank", ins[0])
    elem = _call_fn("scan", attrs["fn"], fn_args(ins), Expr.const(1))
    return [StreamType(elem, ins[0].shape)]


@op(
    "flat_map",
    "x*",
    "one",
    "Replace every element by the sub-stream `fn` makes of it. Output shape: x.shape + "
    "the function's sub-shape.",
    fn=("fn:flat_map", REQUIRED_ATTR),
    compute=("pos_int", 1),
    flags=(USES_COMPUTE, VALUE_TIMED),
)
def _flat_map(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    elem, sub = _call_fn("flat_map", attrs["fn"], fn_args(ins), env.fresh)
    return [StreamType(elem, ins[0].shape + tuple(sub))]
