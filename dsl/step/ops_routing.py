"""STeP dynamic routing: partition chunks among consumers, reassemble and merge them back,
and dispatch them to whichever region says it is free (a feedback loop, `feedback_error`)."""

from __future__ import annotations

from collections.abc import Sequence

from dsl.core.ir import Node, Port
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


# --- dynamic parallelization with feedback -----------------------------------------------------
@op(
    "dispatch",
    "x*",
    "many",
    "Dynamic parallelization: route each chunk (up to S_rank) of the inputs, together, to ONE "
    "of num_consumers regions: the first wave goes 0, 1, ..., n-1; every later chunk goes to "
    "the region whose free signal (free_signal(signals, dispatch=this node)) arrives next. "
    "Outputs, consumer by consumer, one stream per input: Stream<T_j>[n_i, inner dims of "
    "x_j...] (n_i fresh, shared by consumer i's streams).",
    num_consumers=("pos_int", REQUIRED_ATTR),
    rank=("nat", 0),
    flags=(VALUE_TIMED,),
)
def _dispatch(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    b, n = attrs["rank"], attrs["num_consumers"]
    outer = None
    for j, x in enumerate(ins):
        check_rank(b, 0, x.rank, "rank", x, f"x{j}")
        mine = x.shape[: len(x.shape) - b]
        if outer is not None and not same_shape(mine, outer):
            raise RuleError(
                f"outer dims {shape_str(mine)} differ from x0's {shape_str(outer)} (rank={b}):"
                " dispatched inputs travel chunk by chunk together",
                f"x{j}",
            )
        outer = mine
    counts = [env.fresh() for _ in range(n)]
    return [
        StreamType(x.elem, (count,) + x.shape[len(x.shape) - b :]) for count in counts for x in ins
    ]


@op(
    "free_signal",
    "x*",
    "none",
    "Close a dispatch's feedback loop: input i is region i's free signal (rank 0, one element "
    "per chunk the region was sent, emitted once it can take the next); the signals are merged "
    "in arrival order and each one sends the dispatcher's next chunk to its region.",
    dispatch=("nat", REQUIRED_ATTR),
)
def _free_signal(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    if attrs["dispatch"] >= env.node_id:
        raise RuleError(f"dispatch={attrs['dispatch']} must name an earlier dispatch node")
    for i, x in enumerate(ins):
        if x.rank != 0:
            raise RuleError(f"a free signal has one element per chunk (rank 0), got {x}", f"x{i}")
    return []


def feedback_error(nodes: Sequence[Node], complete: bool = True) -> str | None:
    """Why the program's dispatch feedback loops cannot make progress, or None (with
    `complete` False, a program still being built: dispatches not closed yet are fine).

    Every dispatch needs exactly one free_signal naming it, with one signal per region, and
    region i's signal must be computed from what dispatch output i sent it (else it could
    fire before the region ever got work, or never). Checked on the whole graph, because a
    free_signal points back at an earlier node.
    """
    closing: dict[int, Node] = {}
    for n in nodes:
        if n.op != "free_signal":
            continue
        target = n.attrs["dispatch"]
        d = nodes[target] if target < len(nodes) else None
        if d is None or d.op != "dispatch":
            return f"{n.label()}: dispatch={target} names {d.label() if d else 'no node'}, not a dispatch"
        if target in closing:
            return f"{n.label()}: {d.label()} already has its free signals from {closing[target].label()}"
        closing[target] = n
        regions, per = d.attrs["num_consumers"], len(d.inputs)
        if len(n.inputs) != regions:
            return (
                f"{n.label()}: {d.label()} has {regions} regions but {len(n.inputs)} free signals"
                " (one per region)"
            )
        for i, p in enumerate(n.inputs):
            sent = {Port(d.id, i * per + j) for j in range(per)}
            if p not in sent and not _depends_on(nodes, p.node, sent):
                return (
                    f"{n.label()}: signal {i} (from {nodes[p.node].label()}) is not computed from"
                    f" what {d.label()} sends region {i}; it could never say the region is free"
                )
    for n in nodes:
        if complete and n.op == "dispatch" and n.id not in closing:
            return (
                f"{n.label()}: no free_signal(..., dispatch={n.id}) closes its feedback loop;"
                " chunks after the first wave would never be sent"
            )
    return None


def _depends_on(nodes: Sequence[Node], start: int, ports: set[Port]) -> bool:
    """Whether node `start` reads, directly or through earlier nodes, one of `ports`."""
    seen, todo = set(), [start]
    while todo:
        v = todo.pop()
        if v in seen:
            continue
        seen.add(v)
        for p in nodes[v].inputs:
            if p in ports:
                return True
            todo.append(p.node)
    return False
