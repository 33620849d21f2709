"""The STeP op registry: each op's inputs, attributes, shape/type rule and documentation.

The same rule runs twice: eagerly in the builder (errors become `ProgramError` at the
user's line) and again in `load_ir` on the untrusted IR (errors become `ValidationError`).
Semantics and timing are registered under the same names in `interpreter/step/`.

Stream dims are indexed from the innermost: dim 0 is `shape[-1]`, dim r is `shape[0]`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dsl.step.functions import FnRef, FnTypeError, lookup
from dsl.step.symbolic import DYNAMIC, RAGGED, Expr, shape_str
from dsl.step.types import INT_DTYPES, Buffer, ElemType, Selector, StreamType, Tile, TupleT


class RuleError(ValueError):
    """A shape/type rule rejected its inputs; `port` names the input (or None)."""

    def __init__(self, message: str, port: str | None = None) -> None:
        super().__init__(message)
        self.port = port


@dataclass(frozen=True)
class TensorDecl:
    """An off-chip tensor of the task: an input the program loads or an output it stores."""

    name: str
    dtype: str
    shape: tuple[Expr, ...]
    role: str  # "input" | "output"


@dataclass
class RuleEnv:
    """What a rule may consult besides its inputs: the task's tensors and fresh symbols."""

    tensors: dict[str, TensorDecl]
    node_id: int
    _counter: int = 0

    def fresh(self, kind: str = DYNAMIC) -> Expr:
        """A new symbol named after the node, so `load_ir` re-derives the same names."""
        self._counter += 1
        prefix = "r" if kind == RAGGED else "n"
        return Expr.sym(f"{prefix}{self.node_id}_{self._counter}", kind)


# attribute kinds: how each attribute is parsed from JSON and checked
# "int", "pos_int", "nat", "bool", "float", "str", "tensor", "tile", "dim", "shape", "fn:<kind>"
@dataclass(frozen=True)
class OpDecl:
    name: str
    inputs: str  # "" (none), "x", "x?" (optional ref), "x,y", "x*" (one or more), ...
    attrs: dict[str, tuple[str, object]]  # name -> (kind, default; REQUIRED_ATTR if none)
    outputs: str  # "one", "none", "many"
    rule: Callable[[list[StreamType], dict, RuleEnv], list[StreamType]]
    doc: str


REQUIRED_ATTR = object()
OPS: dict[str, OpDecl] = {}


def _op(name: str, inputs: str, outputs: str, doc: str, **attrs: tuple[str, object]):
    def register(rule: Callable) -> Callable:
        OPS[name] = OpDecl(name, inputs, attrs, outputs, rule, doc)
        return rule

    return register


# --- helpers -----------------------------------------------------------------------------
def _same_shape(a: tuple[Expr, ...], b: tuple[Expr, ...]) -> bool:
    return len(a) == len(b) and all(x == y for x, y in zip(a, b, strict=True))


def _prod(dims: tuple[Expr, ...] | list[Expr]) -> Expr:
    out = Expr.const(1)
    for d in dims:
        out = out * d
    return out


def _absorb(d: Expr, env: RuleEnv) -> Expr:
    return env.fresh(RAGGED) if d.is_ragged else d


def _tensor(attrs: dict, env: RuleEnv, role: str) -> TensorDecl:
    t = env.tensors.get(attrs["tensor"])
    if t is None:
        known = ", ".join(n for n, d in env.tensors.items() if d.role == role)
        raise RuleError(f"no task {role} named {attrs['tensor']!r} (task {role}s: {known})")
    if t.role != role:
        raise RuleError(f"{t.name!r} is a task {t.role}, not an {role}")
    return t


def tile_grid(shape: tuple[Expr, ...], tile: tuple[int, int]) -> tuple[Expr, ...]:
    """Tile-grid shape of a tensor: leading dims as they are, the last two divided by the
    tile (rounded up; edge tiles are zero-padded). A 1-D tensor is viewed as [1, n]."""
    if len(shape) == 1:
        shape = (Expr.const(1),) + shape
    return shape[:-2] + (shape[-2].cdiv(tile[0]), shape[-1].cdiv(tile[1]))


def _affine(attrs: dict, default_shape: tuple[Expr, ...], what: str) -> tuple[Expr, ...]:
    shape = attrs["shape"] if attrs["shape"] is not None else default_shape
    if attrs["stride"] is not None and len(attrs["stride"]) != len(shape):
        raise RuleError(
            f"stride has {len(attrs['stride'])} entries but {what} shape "
            f"{shape_str(shape)} has {len(shape)}"
        )
    if any(d.is_ragged for d in shape):
        raise RuleError(f"{what} shape {shape_str(shape)} cannot be ragged")
    return shape


def _need_tile(t: StreamType, port: str, static: bool = False) -> Tile:
    if not isinstance(t.elem, Tile):
        raise RuleError(f"needs a stream of tiles, got {t}", port)
    if static and not t.elem.is_static:
        raise RuleError(f"needs static tiles, got {t.elem}", port)
    return t.elem


def _need_index(t: StreamType, port: str) -> None:
    e = t.elem
    if not (isinstance(e, Tile) and e.dtype in INT_DTYPES and e.rows == 1 and e.cols == 1):
        raise RuleError(
            f"needs a stream of [1, 1] integer tiles (tile-grid indices), got {t}", port
        )


def _need_selector(t: StreamType, n: int, port: str) -> None:
    if not isinstance(t.elem, Selector) or t.elem.n != n:
        raise RuleError(f"needs a stream of Selector[{n}], got {t}", port)


def _check_rank(r: int, lo: int, hi: int, what: str, t: StreamType, port: str = "x") -> None:
    if not lo <= r <= hi:
        raise RuleError(f"{what}={r} out of range {lo}..{hi} for {t} (rank {t.rank})", port)


# --- off-chip memory -----------------------------------------------------------------------
@_op(
    "linear_offchip_load",
    "ref?",
    "one",
    "For each element of `ref` (or once, without ref) read tiles of `tensor` at "
    "base + sum(i_k * stride_k) over the index space `shape` (tile-grid units, row-major "
    "grid order). Output shape: ref.shape + shape.",
    tensor=("tensor", REQUIRED_ATTR),
    tile=("tile", REQUIRED_ATTR),
    shape=("shape", None),
    stride=("shape", None),
    base=("dim", 0),
)
def _linear_load(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    t = _tensor(attrs, env, "input")
    grid = tile_grid(t.shape, attrs["tile"])
    shape = _affine(attrs, grid, "read")
    if (
        attrs["stride"] is None
        and attrs["shape"] is not None
        and not (_prod(shape) == _prod(grid) or all(d.is_static for d in shape + grid))
    ):
        raise RuleError(
            f"shape {shape_str(shape)} reads {_prod(shape)} tiles but "
            f"{t.name!r} has tile grid {shape_str(grid)}; give stride= as well"
        )
    outer = ins[0].shape if ins else ()
    return [
        StreamType(
            Tile(t.dtype, Expr.const(attrs["tile"][0]), Expr.const(attrs["tile"][1])), outer + shape
        )
    ]


@_op(
    "linear_offchip_store",
    "x",
    "none",
    "Write every tile of x to `tensor`, the k-th tile at grid index base + sum(i * stride) "
    "(default: x's shape walked row-major over the tile grid). Edge tiles are clipped.",
    tensor=("tensor", REQUIRED_ATTR),
    stride=("shape", None),
    base=("dim", 0),
)
def _linear_store(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    t = _tensor(attrs, env, "output")
    elem = _need_tile(ins[0], "x", static=True)
    if elem.dtype != t.dtype:
        raise RuleError(f"tile dtype {elem.dtype} differs from {t.name!r} ({t.dtype})", "x")
    grid = tile_grid(t.shape, (elem.rows.value, elem.cols.value))
    if attrs["stride"] is not None:
        if len(attrs["stride"]) != len(ins[0].shape):
            raise RuleError(
                f"stride has {len(attrs['stride'])} entries but x has shape "
                f"{shape_str(ins[0].shape)}",
                "x",
            )
    elif not (_same_shape(ins[0].shape, grid) or _prod(ins[0].shape) == _prod(grid)):
        raise RuleError(
            f"x has shape {shape_str(ins[0].shape)} of {elem} but {t.name!r} "
            f"{shape_str(t.shape)} is a tile grid {shape_str(grid)}",
            "x",
        )
    return []


@_op(
    "random_offchip_load",
    "addr",
    "one",
    "For each [1, 1] integer element of `addr` read the tile at that linear tile-grid "
    "index of `tensor`. Output shape: addr.shape.",
    tensor=("tensor", REQUIRED_ATTR),
    tile=("tile", REQUIRED_ATTR),
)
def _random_load(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    t = _tensor(attrs, env, "input")
    _need_index(ins[0], "addr")
    rows, cols = attrs["tile"]
    return [StreamType(Tile(t.dtype, Expr.const(rows), Expr.const(cols)), ins[0].shape)]


@_op(
    "random_offchip_store",
    "x,addr",
    "none",
    "Write each tile of x to the linear tile-grid index given by the matching addr element.",
    tensor=("tensor", REQUIRED_ATTR),
)
def _random_store(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    t = _tensor(attrs, env, "output")
    elem = _need_tile(ins[0], "x", static=True)
    if elem.dtype != t.dtype:
        raise RuleError(f"tile dtype {elem.dtype} differs from {t.name!r} ({t.dtype})", "x")
    _need_index(ins[1], "addr")
    if not _same_shape(ins[0].shape, ins[1].shape):
        raise RuleError(
            f"x shape {shape_str(ins[0].shape)} differs from addr shape {shape_str(ins[1].shape)}",
            "addr",
        )
    return []


# --- on-chip memory ------------------------------------------------------------------------
@_op(
    "bufferize",
    "x",
    "one",
    "Store the inner `rank` dims of x on chip; emit one buffer reference per stored block. "
    "Stream<T>[d_a..d_0] -> Stream<Buffer<T>[d_(rank-1)..d_0]>[d_a..d_rank].",
    rank=("pos_int", REQUIRED_ATTR),
)
def _bufferize(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    x, b = ins[0], attrs["rank"]
    _check_rank(b, 1, x.rank, "rank", x)
    _need_tile(x, "x")
    inner = x.shape[-b:]
    if any(d.is_ragged for d in inner[1:]):
        raise RuleError(
            f"only the outermost buffered dim may be ragged, got {shape_str(inner)}", "x"
        )
    return [StreamType(Buffer(x.elem, inner), x.shape[:-b])]


@_op(
    "streamify",
    "buf",
    "one",
    "For each buffer reference emit the buffered tiles, walking `shape` with `stride` "
    "(default: the whole buffer in order). Output shape: buf.shape + shape.",
    shape=("shape", None),
    stride=("shape", None),
)
def _streamify(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    buf = ins[0].elem
    if not isinstance(buf, Buffer):
        raise RuleError(f"needs a stream of buffer references, got {ins[0]}", "buf")
    shape = attrs["shape"] if attrs["shape"] is not None else buf.shape
    if attrs["stride"] is not None and len(attrs["stride"]) != len(shape):
        raise RuleError(
            f"stride has {len(attrs['stride'])} entries but shape "
            f"{shape_str(shape)} has {len(shape)}"
        )
    if (
        attrs["shape"] is not None
        and attrs["stride"] is None
        and not (_prod(shape) == _prod(buf.shape))
    ):
        raise RuleError(
            f"shape {shape_str(shape)} does not cover buffer "
            f"{shape_str(buf.shape)}; give stride= for a partial or repeated read"
        )
    return [StreamType(buf.elem, ins[0].shape + tuple(shape))]


# --- dynamic routing -----------------------------------------------------------------------
def _merge_inputs(xs: list[StreamType], b: int, env: RuleEnv) -> ElemType:
    """Element type of a stream merged from `xs` (all rank b, same inner dims). Tiles whose
    symbolic sizes differ (dynamic tiles of different experts) merge into a ragged size."""
    first = xs[0].elem
    rows, cols = (first.rows, first.cols) if isinstance(first, Tile) else (None, None)
    for i, x in enumerate(xs):
        if x.rank != b:
            raise RuleError(f"every input must have rank {b}, got {x}", f"x{i}")
        if not _same_shape(x.shape[1:], xs[0].shape[1:]):
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


# --- dynamic routing ops ------------------------------------------------------------------
@_op(
    "partition",
    "x,sel",
    "many",
    "Route each chunk of x (its inner `rank` dims, i.e. the data up to the next S_rank) to "
    "every consumer chosen by the matching selector element. sel.shape = x.shape without "
    "the inner `rank` dims; output i: Stream<T>[n_i, inner dims...] with n_i fresh.",
    num_consumers=("pos_int", REQUIRED_ATTR),
    rank=("nat", 0),
)
def _partition(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    x, sel, b, n = ins[0], ins[1], attrs["rank"], attrs["num_consumers"]
    _check_rank(b, 0, x.rank, "rank", x)
    _need_selector(sel, n, "sel")
    outer = x.shape[: len(x.shape) - b]
    if not _same_shape(sel.shape, outer):
        raise RuleError(
            f"sel shape {shape_str(sel.shape)} must equal x's outer dims "
            f"{shape_str(outer)} (x {shape_str(x.shape)}, rank={b})",
            "sel",
        )
    inner = x.shape[len(x.shape) - b :]
    return [StreamType(x.elem, (env.fresh(),) + inner) for _ in range(n)]


@_op(
    "reassemble",
    "x*,sel",
    "one",
    "Inverse of partition: for each selector element take one chunk (up to S_rank) from "
    "every chosen input, in ascending input order, and close the group with a new stop. "
    "Output: Stream<T>[sel dims..., r (ragged: how many chosen), inner dims...].",
    rank=("nat", 0),
)
def _reassemble(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    xs, sel, b = ins[:-1], ins[-1], attrs["rank"]
    _need_selector(sel, len(xs), "sel")
    elem = _merge_inputs(xs, b, env)
    return [StreamType(elem, sel.shape + (env.fresh(RAGGED),) + xs[0].shape[1:])]


@_op(
    "eager_merge",
    "x*",
    "many",
    "Merge chunks (up to S_rank) of the inputs in arrival order, never interleaving two "
    "chunks; also emit a Selector[n] stream saying where each chunk came from. "
    "Outputs: (Stream<T>[sum n_i, inner...], Stream<Selector[n]>[sum n_i]).",
    rank=("nat", 0),
)
def _eager_merge(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    elem = _merge_inputs(ins, attrs["rank"], env)
    total = _absorb(sum((x.shape[0] for x in ins), Expr.const(0)), env)
    return [StreamType(elem, (total,) + ins[0].shape[1:]), StreamType(Selector(len(ins)), (total,))]


# --- higher-order ----------------------------------------------------------------------------
def _fn_args(ins: list[StreamType], port: str = "x") -> tuple[ElemType, ...]:
    for i, x in enumerate(ins[1:], start=1):
        if not _same_shape(x.shape, ins[0].shape):
            raise RuleError(
                f"shape {shape_str(x.shape)} differs from input 0's {shape_str(ins[0].shape)}",
                f"{port}{i}",
            )
    if len(ins) == 1 and isinstance(ins[0].elem, TupleT):
        return ins[0].elem.items
    return tuple(x.elem for x in ins)


def _call(kind: str, fref: FnRef, args: tuple, *extra: object):
    decl = lookup(kind, fref.name)
    if len(args) != decl.arity:
        raise RuleError(f"{fref.name} takes {decl.arity} input(s), got {len(args)}")
    try:
        return decl.rule(args, dict(fref.args), fref.name, *extra)
    except FnTypeError as exc:
        raise RuleError(str(exc)) from None


@_op(
    "map",
    "x*",
    "one",
    "Apply `fn` to every element (inputs zipped). Shape unchanged.",
    fn=("fn:map", REQUIRED_ATTR),
    compute=("pos_int", 1),
)
def _map(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    return [StreamType(_call("map", attrs["fn"], _fn_args(ins)), ins[0].shape)]


@_op(
    "accum",
    "x*",
    "one",
    "Fold the inner `rank` dims of each chunk with `fn` (from fn's init); one element per "
    "chunk. Stream[d_a..d_0] -> Stream[d_a..d_rank].",
    fn=("fn:accum", REQUIRED_ATTR),
    rank=("pos_int", REQUIRED_ATTR),
    compute=("pos_int", 1),
)
def _accum(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    b = attrs["rank"]
    _check_rank(b, 1, ins[0].rank, "rank", ins[0])
    count = _prod(ins[0].shape[-b:])
    elem = _call("accum", attrs["fn"], _fn_args(ins), count)
    if isinstance(elem, Tile) and (elem.rows.is_ragged or elem.cols.is_ragged):
        elem = Tile(elem.dtype, _absorb(elem.rows, env), _absorb(elem.cols, env))
    return [StreamType(elem, ins[0].shape[:-b])]


@_op(
    "scan",
    "x*",
    "one",
    "Like accum but emit the state after every element; the state restarts after each "
    "S_rank (rank = x.rank + 1: never restarts). Shape unchanged.",
    fn=("fn:scan", REQUIRED_ATTR),
    rank=("pos_int", REQUIRED_ATTR),
    compute=("pos_int", 1),
)
def _scan(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    _check_rank(attrs["rank"], 1, ins[0].rank + 1, "rank", ins[0])
    elem = _call("scan", attrs["fn"], _fn_args(ins), Expr.const(1))
    return [StreamType(elem, ins[0].shape)]


@_op(
    "flat_map",
    "x*",
    "one",
    "Replace every element by the sub-stream `fn` makes of it. Output shape: x.shape + "
    "the function's sub-shape.",
    fn=("fn:flat_map", REQUIRED_ATTR),
    compute=("pos_int", 1),
)
def _flat_map(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    elem, sub = _call("flat_map", attrs["fn"], _fn_args(ins), env.fresh)
    return [StreamType(elem, ins[0].shape + tuple(sub))]


# --- shape ops (rewrite stop tokens only) --------------------------------------------------
@_op(
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
    merged = _absorb(_prod(x.shape[n - 1 - hi : n - lo]), env)
    return [StreamType(x.elem, x.shape[: n - 1 - hi] + (merged,) + x.shape[n - lo :])]


@_op(
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
    _check_rank(k, 0, x.rank, "dim", x)
    pos = len(x.shape) - 1 - k
    d = x.shape[pos]
    outer = _absorb(d.cdiv(c), env)
    if attrs["pad"]:
        if k != 0:
            raise RuleError(f"pad=True pads the innermost dim only (dim=0), got dim={k}", "x")
        _need_tile(x, "x", static=True)
        shape = x.shape[:pos] + (outer, Expr.const(c))
        return [
            StreamType(x.elem, shape),
            StreamType(Tile("int64", Expr.const(1), Expr.const(1)), shape),
        ]
    exact = d.is_static and d.value % c == 0
    inner = Expr.const(c) if exact else env.fresh(RAGGED)
    return [StreamType(x.elem, x.shape[:pos] + (outer, inner) + x.shape[pos + 1 :])]


@_op(
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
    _check_rank(k, 0, x.rank + 1, "dim", x)
    pos = len(x.shape) - k
    new = Expr.const(1)
    if k == x.rank + 1 and not (x.shape[0].is_static and x.shape[0].value > 0):
        new = env.fresh()
    return [StreamType(x.elem, x.shape[:pos] + (new,) + x.shape[pos:])]


@_op(
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
    if len(kept) > len(ref.shape) or not _same_shape(tuple(kept), ref.shape[: len(kept)]):
        raise RuleError(
            f"x shape {shape_str(x.shape)} is not a prefix of ref shape {shape_str(ref.shape)}",
            "ref",
        )
    return [StreamType(x.elem, ref.shape)]


@_op(
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


@_op("zip", "x*", "one", "Pair up elements of equally shaped streams into tuples.")
def _zip(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    if len(ins) < 2:
        raise RuleError("needs at least two streams")
    return [StreamType(TupleT(_fn_args(ins)), ins[0].shape)]


@_op(
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


@_op(
    "sink",
    "x",
    "none",
    "Consume and discard every element of x (one per cycle): the end of a stream nothing "
    "needs, such as eager_merge's selector output or reshape's padding flags.",
)
def _sink(ins: list[StreamType], attrs: dict, env: RuleEnv) -> list[StreamType]:
    return []


@_op(
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
