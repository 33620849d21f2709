"""The element-function library: what `map`, `accum`, `scan` and `flat_map` may apply.

Each function is declared once here (name, kind, parameters, type rule, doc); its numpy
implementation and FLOP count live in `interpreter/step/functions.py`, found by name. A
program names a function by string (`"exp"`) or, with parameters, through `step.fn`
(`step.fn.scale(factor=0.125)`); the IR stores `{"fn": name, "args": {...}}`.

Kinds:
- "map": args (element types of the inputs, a zip unpacked) -> output element type.
- "accum": fold of a chunk; the state starts from the function's own init (zero, -inf or
  empty) and the rule also receives the number of folded elements (`count`).
- "scan": like accum but emits after every element; may emit a type other than its state.
- "flat_map": one element -> a sub-stream; the rule returns (element type, sub-shape).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from dsl.core.errors import RuleError
from dsl.step.limits import MAX_CHOICES, MAX_FN_INT, MAX_SUBSTREAM, MAX_TILE_SIDE
from dsl.step.symbolic import RAGGED, Expr
from dsl.step.types import DTYPE_BYTES, INT_DTYPES, ElemType, Selector, Tile


class FnTypeError(RuleError):
    """An element function cannot take these argument types (message says why)."""


@dataclass(frozen=True)
class FnRef:
    """A use of a library function: its name and parameter values."""

    name: str
    args: tuple[tuple[str, object], ...] = ()

    def arg(self, key: str) -> object:
        return dict(self.args)[key]

    def to_json(self) -> dict:
        return {"fn": self.name, "args": dict(self.args)}

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.args)
        return f"{self.name}({inner})"


REQUIRED = object()

# (function, integer parameter) -> (least, most); other integer parameters: +-MAX_FN_INT
PARAM_RANGE = {
    ("to_selector", "n"): (1, MAX_CHOICES),
    ("least_loaded", "regions"): (1, MAX_CHOICES),
    ("arange", "count"): (0, MAX_SUBSTREAM),
    ("split_rows", "rows"): (1, MAX_TILE_SIDE),
    ("split_cols", "cols"): (1, MAX_TILE_SIDE),
    ("ceil_div", "divisor"): (1, MAX_FN_INT),
}


@dataclass(frozen=True)
class FnDecl:
    name: str
    kind: str  # "map" | "accum" | "scan" | "flat_map"
    arity: int
    rule: Callable
    doc: str
    params: dict[str, tuple[type, object]] = field(default_factory=dict)


FUNCTIONS: dict[str, FnDecl] = {}
"""Registry of element functions by name (a name may exist for several kinds, see key)."""


def _declare(kind: str, name: str, arity: int, rule: Callable, doc: str, **params) -> None:
    FUNCTIONS[f"{kind}:{name}"] = FnDecl(name, kind, arity, rule, doc, params)


def lookup(kind: str, name: str) -> FnDecl:
    decl = FUNCTIONS.get(f"{kind}:{name}")
    if decl is None:
        known = sorted(d.name for d in FUNCTIONS.values() if d.kind == kind)
        raise FnTypeError(f"unknown {kind} function {name!r}; known: {', '.join(known)}")
    return decl


def make_ref(kind: str, fn: str | FnRef) -> FnRef:
    """Check a function use against the registry: name, parameter names and types."""
    ref = FnRef(fn) if isinstance(fn, str) else fn
    if not isinstance(ref, FnRef):
        raise FnTypeError(f"fn must be a name or step.fn.<name>(...), got {type(fn).__name__}")
    decl = lookup(kind, ref.name)
    given = dict(ref.args)
    unknown = set(given) - set(decl.params)
    if unknown:
        raise FnTypeError(
            f"{ref.name}: unknown parameter {sorted(unknown)[0]!r}; "
            f"takes {', '.join(decl.params) or 'no parameters'}"
        )
    args = []
    for key, (typ, default) in decl.params.items():
        if key not in given:
            if default is REQUIRED:
                raise FnTypeError(f"{ref.name}: missing parameter {key!r}")
            given[key] = default
        value = given[key]
        ok = isinstance(value, typ) and not (typ is not bool and isinstance(value, bool))
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise FnTypeError(
                f"{ref.name}: parameter {key!r} must be {typ.__name__}, got {value!r}"
            )
        if typ is int:
            least, most = PARAM_RANGE.get((ref.name, key), (-MAX_FN_INT, MAX_FN_INT))
            if not least <= value <= most:
                raise FnTypeError(
                    f"{ref.name}: parameter {key!r} must be in {least}..{most}, got {value}"
                )
        if typ is float and not math.isfinite(value):
            raise FnTypeError(
                f"{ref.name}: parameter {key!r} must be finite (the IR is JSON), got {value!r}; "
                f"use e.g. -3.4e38 for a large negative fill"
            )
        args.append((key, value))
    return FnRef(ref.name, tuple(args))


# --- rule helpers ----------------------------------------------------------------------
def _tile(t: ElemType, fn: str, pos: int = 0) -> Tile:
    if not isinstance(t, Tile):
        raise FnTypeError(f"{fn}: argument {pos} must be a tile, got {t}")
    return t


def _int_tile(t: ElemType, fn: str, pos: int = 0) -> Tile:
    t = _tile(t, fn, pos)
    if t.dtype not in INT_DTYPES:
        raise FnTypeError(f"{fn}: argument {pos} must be an integer tile, got {t}")
    return t


def _same(args: tuple, p: dict, name: str) -> ElemType:
    return _tile(args[0], name)


def _broadcast(args: tuple, p: dict, name: str) -> Tile:
    a, b = _tile(args[0], name, 0), _tile(args[1], name, 1)
    if a.dtype != b.dtype:
        raise FnTypeError(f"{name}: dtypes differ ({a.dtype} vs {b.dtype}); use cast first")
    out = []
    for axis, x, y in (("rows", a.rows, b.rows), ("cols", a.cols, b.cols)):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise FnTypeError(f"{name}: {axis} {x} and {y} do not broadcast ({a} vs {b})")
    return Tile(a.dtype, out[0], out[1])


def _matmul(args: tuple, p: dict, name: str) -> Tile:
    a, b = _tile(args[0], name, 0), _tile(args[1], name, 1)
    k_b, n = (b.cols, b.rows) if p.get("transpose_b") else (b.rows, b.cols)
    if a.cols != k_b:
        side = "cols" if p.get("transpose_b") else "rows"
        raise FnTypeError(f"{name}: inner dims differ: {a} has {a.cols} cols, {b} has {k_b} {side}")
    if a.dtype != b.dtype:
        raise FnTypeError(f"{name}: dtypes differ ({a.dtype} vs {b.dtype})")
    return Tile(a.dtype, a.rows, n)


def _reduce_rows(args: tuple, p: dict, name: str) -> Tile:
    a = _tile(args[0], name)
    return Tile(a.dtype, a.rows, Expr.const(1))


def _argmax_rows(args: tuple, p: dict, name: str) -> Tile:
    a = _tile(args[0], name)
    return Tile("int64", a.rows, Expr.const(1))


def _reduce_cols(args: tuple, p: dict, name: str) -> Tile:
    a = _tile(args[0], name)
    return Tile(a.dtype, Expr.const(1), a.cols)


def _rotate_half(args: tuple, p: dict, name: str) -> Tile:
    a = _tile(args[0], name)
    if not a.cols.is_static or a.cols.value % 2:
        raise FnTypeError(f"{name}: needs an even static number of columns, got {a}")
    return a


def _cast(args: tuple, p: dict, name: str) -> Tile:
    a = _tile(args[0], name)
    if p["dtype"] not in DTYPE_BYTES:
        raise FnTypeError(f"{name}: unknown dtype {p['dtype']!r}")
    return Tile(p["dtype"], a.rows, a.cols)


def _transpose(args: tuple, p: dict, name: str) -> Tile:
    a = _tile(args[0], name)
    return Tile(a.dtype, a.cols, a.rows)


def _to_selector(args: tuple, p: dict, name: str) -> Selector:
    a = _int_tile(args[0], name)
    if a.rows != 1:
        raise FnTypeError(f"{name}: needs a [1, k] integer tile, got {a}")
    if p["n"] <= 0:
        raise FnTypeError(f"{name}: n must be positive")
    return Selector(p["n"])


def _selector_to_index(args: tuple, p: dict, name: str) -> Tile:
    if not isinstance(args[0], Selector):
        raise FnTypeError(f"{name}: needs a selector, got {args[0]}")
    return Tile("int64", Expr.const(1), Expr.const(1))


def _int_same(args: tuple, p: dict, name: str) -> Tile:
    return _int_tile(args[0], name)


def _concat_cols(args: tuple, p: dict, name: str) -> Tile:
    a, b = _tile(args[0], name, 0), _tile(args[1], name, 1)
    if a.rows != b.rows or a.dtype != b.dtype:
        raise FnTypeError(f"{name}: needs equal rows and dtype, got {a} and {b}")
    return Tile(a.dtype, a.rows, a.cols + b.cols)


COMPARISONS = ("lt", "le", "gt", "ge", "eq", "ne")


def _compare(args: tuple, p: dict, name: str) -> Tile:
    if p["op"] not in COMPARISONS:
        raise FnTypeError(f"{name}: op {p['op']!r} is not one of {', '.join(COMPARISONS)}")
    return _broadcast(args, p, name)


def _where(args: tuple, p: dict, name: str) -> Tile:
    cond = _tile(args[0], name, 0)
    value = _broadcast(args[1:], p, name)
    shape = _broadcast((Tile(value.dtype, cond.rows, cond.cols), value), p, name)
    return Tile(value.dtype, shape.rows, shape.cols)


def _iota(args: tuple, p: dict, name: str) -> Tile:
    a = _tile(args[0], name)
    if p["axis"] not in (0, 1):
        raise FnTypeError(f"{name}: axis must be 0 (row index) or 1 (column index)")
    return Tile("int64", a.rows, a.cols)


def _mask_after(args: tuple, p: dict, name: str) -> Tile:
    a = _tile(args[0], name, 0)
    n = _int_tile(args[1], name, 1)
    if n.rows != 1 or n.cols != 1:
        raise FnTypeError(f"{name}: argument 1 must be a [1, 1] integer tile, got {n}")
    return a


for _n, _doc in [
    ("exp", "e^x per element (4 FLOPs/element)"),
    ("log", "natural log per element (4 FLOPs/element)"),
    ("silu", "x * sigmoid(x) per element (8 FLOPs/element)"),
    ("relu", "max(x, 0) per element"),
    ("gelu", "tanh-approximated GELU per element (8 FLOPs/element)"),
    ("gelu_erf", "exact GELU x * (1 + erf(x / sqrt 2)) / 2 per element (8 FLOPs/element)"),
    ("sigmoid", "1 / (1 + e^-x) per element (4 FLOPs/element)"),
    ("tanh", "tanh per element (4 FLOPs/element)"),
    ("neg", "-x"),
    ("abs", "|x|"),
    ("sqrt", "square root per element (4 FLOPs/element)"),
    ("rsqrt", "1 / sqrt(x) per element (4 FLOPs/element)"),
    ("recip", "1 / x per element"),
    ("square", "x * x per element"),
]:
    _declare("map", _n, 1, _same, _doc)
_declare("map", "scale", 1, _same, "x * factor", factor=(float, REQUIRED))
_declare("map", "add_scalar", 1, _same, "x + value", value=(float, REQUIRED))
_declare(
    "map",
    "rotate_half",
    1,
    _rotate_half,
    "concat(-x[:, C/2:], x[:, :C/2]) (the rotary-embedding helper)",
)
_declare("map", "cast", 1, _cast, "convert the tile to another dtype", dtype=(str, REQUIRED))
_declare("map", "transpose", 1, _transpose, "[R, C] -> [C, R]")
_declare("map", "row_sum", 1, _reduce_rows, "sum over columns: [R, C] -> [R, 1]")
_declare("map", "row_max", 1, _reduce_rows, "max over columns: [R, C] -> [R, 1]")
_declare("map", "row_mean", 1, _reduce_rows, "mean over columns: [R, C] -> [R, 1]")
_declare(
    "map",
    "row_argmax",
    1,
    _argmax_rows,
    "column of each row's max: [R, C] -> int64 [R, 1] (lowest column on ties; 1 FLOP/element)",
)
_declare("map", "col_sum", 1, _reduce_cols, "sum over rows: [R, C] -> [1, C]")
_declare("map", "col_max", 1, _reduce_cols, "max over rows: [R, C] -> [1, C]")
_declare(
    "map",
    "to_selector",
    1,
    _to_selector,
    "integer tile [1, k] of choice ids in [0, n) -> multi-hot Selector[n]",
    n=(int, REQUIRED),
)
_declare(
    "map",
    "selector_to_index",
    1,
    _selector_to_index,
    "Selector[n] -> int64 [1, 1] tile holding the lowest chosen id",
)
_declare(
    "map",
    "affine_index",
    1,
    _int_same,
    "integer tile: x * scale + offset",
    scale=(int, 1),
    offset=(int, 0),
)
_declare(
    "map", "ceil_div", 1, _int_same, "integer tile: ceil(x / divisor)", divisor=(int, REQUIRED)
)
for _n, _doc in [
    ("add", "a + b"),
    ("sub", "a - b"),
    ("mul", "a * b"),
    ("div", "a / b"),
    ("maximum", "elementwise max(a, b)"),
    ("minimum", "elementwise min(a, b)"),
]:
    _declare("map", _n, 2, _broadcast, _doc + " (a [R,1], [1,C] or [1,1] side broadcasts)")
_declare(
    "map",
    "matmul",
    2,
    _matmul,
    "a [R, K] @ b [K, C] -> [R, C]; with transpose_b=True b is [C, K] (2*R*K*C FLOPs)",
    transpose_b=(bool, False),
)
_declare("map", "concat_cols", 2, _concat_cols, "[R, c1], [R, c2] -> [R, c1 + c2]")
_declare(
    "map",
    "compare",
    2,
    _compare,
    "a <op> b elementwise (op: lt le gt ge eq ne; broadcasts like add) -> 1 where true, 0 "
    "where false, in a's dtype (a mask to multiply by or to feed `where`)",
    op=(str, REQUIRED),
)
_declare(
    "map",
    "where",
    3,
    _where,
    "cond, a, b -> a where cond != 0 else b (all three broadcast; a and b share a dtype)",
)
_declare(
    "map",
    "iota",
    1,
    _iota,
    "x [R, C] -> int64 [R, C] holding each element's column index (axis=1) or row index "
    "(axis=0); x's values are ignored (it gives the shape)",
    axis=(int, 1),
)
_declare(
    "map",
    "mask_after",
    2,
    _mask_after,
    "x [R, C], n [1, 1] int: columns j >= n of x become `fill` (masks a partial tile; the "
    "default is the lowest finite float32, which exp() takes to 0 and JSON can hold)",
    fill=(float, -3.4028234663852886e38),
)


# --- accum / scan ----------------------------------------------------------------------
def _acc_same(args: tuple, p: dict, name: str, count: Expr) -> Tile:
    return _tile(args[0], name)


def _acc_matmul(args: tuple, p: dict, name: str, count: Expr) -> Tile:
    return _matmul(args, p, name)


def _acc_retile_row(args: tuple, p: dict, name: str, count: Expr) -> Tile:
    a = _tile(args[0], name)
    return Tile(a.dtype, a.rows * count, a.cols)


def _acc_retile_col(args: tuple, p: dict, name: str, count: Expr) -> Tile:
    a = _tile(args[0], name)
    return Tile(a.dtype, a.rows, a.cols * count)


for _kind in ("accum", "scan"):
    _declare(_kind, "add", 1, _acc_same, "state + x (init 0)")
    _declare(_kind, "mul", 1, _acc_same, "state * x (init 1)")
    _declare(_kind, "max", 1, _acc_same, "max(state, x) (init -inf)")
    _declare(_kind, "min", 1, _acc_same, "min(state, x) (init +inf)")
_declare(
    "accum",
    "matmul",
    2,
    _acc_matmul,
    "state + a @ b over zipped (a, b) pairs (init 0); transpose_b as in map matmul",
    transpose_b=(bool, False),
)
_declare(
    "accum",
    "retile_row",
    1,
    _acc_retile_row,
    "stack tiles vertically: n tiles [r, C] -> one [n*r, C] tile (init empty; 0 FLOPs)",
)
_declare(
    "accum",
    "retile_col",
    1,
    _acc_retile_col,
    "stack tiles horizontally: n tiles [R, c] -> one [R, n*c] tile (init empty; 0 FLOPs)",
)


def _scan_least_loaded(args: tuple, p: dict, name: str, count: Expr) -> Selector:
    a = _int_tile(args[0], name)
    if a.rows != 1 or a.cols != 1:
        raise FnTypeError(f"{name}: needs a [1, 1] integer tile (the work of one item), got {a}")
    if p["regions"] <= 0:
        raise FnTypeError(f"{name}: regions must be positive")
    return Selector(p["regions"])


_declare(
    "scan",
    "least_loaded",
    1,
    _scan_least_loaded,
    "greedy dispatch: for each work amount w, choose the region with the least total "
    "work so far (lowest id on ties), add w to it, emit a one-hot Selector[regions]",
    regions=(int, REQUIRED),
)


# --- flat_map --------------------------------------------------------------------------
def _fm_split(axis: str) -> Callable:
    def rule(args: tuple, p: dict, name: str, fresh: Callable) -> tuple:
        a = _tile(args[0], name)
        size = p[axis]
        if size <= 0:
            raise FnTypeError(f"{name}: {axis} must be positive")
        if axis == "rows":
            return Tile(a.dtype, Expr.const(size), a.cols), (a.rows.cdiv(size),)
        return Tile(a.dtype, a.rows, Expr.const(size)), (a.cols.cdiv(size),)

    return rule


def _fm_arange(args: tuple, p: dict, name: str, fresh: Callable) -> tuple:
    a = _int_tile(args[0], name)
    if a.rows != 1 or a.cols != 1:
        raise FnTypeError(f"{name}: needs a [1, 1] integer tile, got {a}")
    return a, (Expr.const(p["count"]),)


def _fm_range(args: tuple, p: dict, name: str, fresh: Callable) -> tuple:
    a = _int_tile(args[0], name)
    if a.rows != 1 or a.cols != 2:
        raise FnTypeError(f"{name}: needs a [1, 2] integer tile (start, count), got {a}")
    return Tile(a.dtype, Expr.const(1), Expr.const(1)), (fresh(RAGGED),)


_declare(
    "flat_map",
    "split_rows",
    1,
    _fm_split("rows"),
    "[R, C] -> cdiv(R, rows) tiles [rows, C] (the last may have fewer rows)",
    rows=(int, REQUIRED),
)
_declare(
    "flat_map",
    "split_cols",
    1,
    _fm_split("cols"),
    "[R, C] -> cdiv(C, cols) tiles [R, cols] (the last may have fewer cols)",
    cols=(int, REQUIRED),
)
_declare(
    "flat_map",
    "arange",
    1,
    _fm_arange,
    "int [1, 1] v -> count tiles v, v + stride, ..., v + (count-1)*stride",
    count=(int, REQUIRED),
    stride=(int, 1),
)
_declare(
    "flat_map",
    "range",
    1,
    _fm_range,
    "int [1, 2] (start, n) -> n tiles [1, 1]: start, start + stride, ... (ragged length)",
    stride=(int, 1),
)


class _FnNamespace:
    """`step.fn.<name>(**params)` builds an `FnRef`; checked when an op uses it."""

    def __getattr__(self, name: str) -> Callable[..., FnRef]:
        if name.startswith("_") or not any(d.name == name for d in FUNCTIONS.values()):
            known = sorted({d.name for d in FUNCTIONS.values()})
            raise AttributeError(f"unknown element function {name!r}; known: {', '.join(known)}")

        def make(**params: object) -> FnRef:
            plain = {
                k: v.value if isinstance(v, Expr) and v.is_static else v for k, v in params.items()
            }
            return FnRef(name, tuple(sorted(plain.items())))

        return make

    def __dir__(self) -> list[str]:
        return sorted({d.name for d in FUNCTIONS.values()})


fn = _FnNamespace()
