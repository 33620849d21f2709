"""numpy implementations and FLOP counts of the element-function library.

Declared (name, parameters, type rule, doc) in `dsl/step/functions.py`; registered here
under the same `kind:name` key. Implementations work on a whole stream at once: tiles
stacked as [n, rows, cols] arrays when they share a shape, else one element at a time.
FLOP conventions follow the paper's simulator: matmul 2*M*K*N, elementwise 1 per element,
exp/log/tanh/sqrt/rsqrt/sigmoid 4, silu/gelu 8, index and selector work 1 per element,
retiling 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from interpreter.errors import ExecutionError
from interpreter.step.streams import LazyTiles, stack, vlen, vstack, vtake

FLOAT = np.float32


@dataclass(frozen=True)
class FnImpl:
    apply: Callable
    flops: Callable[[list[np.ndarray], dict], np.ndarray]  # arg (rows, cols) arrays -> FLOPs


IMPLS: dict[str, FnImpl] = {}


def _register(kind: str, name: str, apply: Callable, flops: Callable) -> None:
    IMPLS[f"{kind}:{name}"] = FnImpl(apply, flops)


def _per_elem(factor: float) -> Callable:
    def flops(shapes: list[np.ndarray], p: dict) -> np.ndarray:
        return factor * shapes[0][:, 0] * shapes[0][:, 1]

    return flops


def _elems_out(shapes: list[np.ndarray], p: dict) -> np.ndarray:
    """One FLOP per element of the broadcast result."""
    rows = np.maximum.reduce([s[:, 0] for s in shapes])
    cols = np.maximum.reduce([s[:, 1] for s in shapes])
    return rows * cols


def _one(shapes: list[np.ndarray], p: dict) -> np.ndarray:
    return np.ones(len(shapes[0]), dtype=np.int64)


def _zero(shapes: list[np.ndarray], p: dict) -> np.ndarray:
    return np.zeros(len(shapes[0]), dtype=np.int64)


def _matmul_flops(shapes: list[np.ndarray], p: dict) -> np.ndarray:
    a, b = shapes
    n = b[:, 0] if p.get("transpose_b") else b[:, 1]
    return 2 * a[:, 0] * a[:, 1] * n


BLOCK_BYTES = 1 << 24


REUSE = 4  # a lazily loaded tile read at least this many times on average is not copied


def batched(f: Callable, shared: bool = False) -> Callable:
    """Lift `f` on stacked [n, R, C] arrays to value containers (stacked, lazy or lists).

    Works through blocks of elements so that lazily loaded tiles are materialised a block
    at a time; tiles of differing shapes go one by one. With `shared` (for `f` computed
    per batch element by BLAS, as matmul), a lazily loaded argument whose tiles repeat (a
    weight tile re-read for every token tile) is not copied per use: `f` runs once per
    distinct tile on a broadcast view of it, with the same per-element results.
    """

    def apply(args: list, p: dict) -> object:
        n = vlen(args[0])
        if all(isinstance(a, np.ndarray | LazyTiles) for a in args):
            reused = _reused(args, n) if shared else None
            if reused is not None:
                return _per_distinct_tile(f, args, p, n, *reused)
            per = sum(a[0].nbytes for a in args) if n else 1
            block = max(1, BLOCK_BYTES // max(per, 1))
            if n <= block:
                return f(*(vstack(a) for a in args), p)
            parts = [f(*(vstack(a[i : i + block]) for a in args), p) for i in range(0, n, block)]
            return np.concatenate(parts)
        # lists first: one that does not stack sends every tile on alone, and then
        # copying a lazily loaded argument (re-read weights: the largest) would be wasted
        lists = {
            i: vstack(a) for i, a in enumerate(args) if not isinstance(a, np.ndarray | LazyTiles)
        }
        if all(v is not None for v in lists.values()):
            return f(*(lists[i] if i in lists else vstack(a) for i, a in enumerate(args)), p)
        return _by_shape(apply, args, p, n)

    return apply


def _by_shape(apply: Callable, args: list, p: dict, n: int) -> list:
    """`apply` on the elements grouped by their arguments' shapes, one stacked call per
    group (static tiles with a smaller last tile are two groups, not one call per tile);
    each element's result is the one a call on it alone gives, in element order."""
    groups: dict[tuple, list[int]] = {}
    per_arg = [_shapes(a) if isinstance(a, list) else [a[0].shape] * n for a in args]
    for i, key in enumerate(zip(*per_arg, strict=True)):
        groups.setdefault(key, []).append(i)
    out: list = [None] * n
    for members in groups.values():
        pos = np.array(members, dtype=np.int64)
        part = [
            stack([np.asarray(a[i]) for i in members]) if isinstance(a, list) else vtake(a, pos)
            for a in args
        ]
        for i, value in zip(members, apply(part, p), strict=True):
            out[i] = value
    return out


def _shapes(values: list) -> list[tuple[int, ...]]:
    """np.shape of every value: read off the arrays directly when all are (np.shape costs
    some five times more per call, and dynamic tiles are lists of arrays)."""
    try:
        return [v.shape for v in values]
    except AttributeError:
        return [np.shape(v) for v in values]


def _reused(args: list, n: int) -> tuple[int, np.ndarray, np.ndarray] | None:
    """(argument, its distinct tile indices, each element's position among them) of the
    lazily loaded argument re-reading its tiles most, if it re-reads them REUSE times."""
    best = None
    if n < REUSE:  # no tile can be read REUSE times (a token tile of a MoE expert, say)
        return None
    for k, a in enumerate(args):
        if isinstance(a, LazyTiles) and n:
            uniq, inverse = _distinct(a.idx)
            if len(uniq) * REUSE <= n and (best is None or len(uniq) < len(best[1])):
                best = (k, uniq, inverse)
    return best


def _distinct(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(idx, return_inverse=True)` of tile indices, by counting them when they
    span a range not much wider than their number (always, for re-read weights): a
    fraction of the cost of np.unique, which sorts, and this runs for every matmul."""
    if len(idx) and idx.min() >= 0 and idx.max() < 4 * len(idx) + 1024:
        seen = np.bincount(idx) > 0
        return np.flatnonzero(seen), (np.cumsum(seen) - 1)[idx]
    return np.unique(idx, return_inverse=True)


def _per_distinct_tile(
    f: Callable, args: list, p: dict, n: int, k: int, uniq: np.ndarray, inverse: np.ndarray
) -> np.ndarray:
    grid = args[k].grid
    order = np.argsort(inverse, kind="stable")
    ends = np.cumsum(np.bincount(inverse, minlength=len(uniq))).tolist()
    out = None
    for u, hi in enumerate(ends):
        pos = order[(ends[u - 1] if u else 0) : hi]
        ins = [
            np.broadcast_to(grid[uniq[u]], (len(pos),) + grid.shape[1:])
            if i == k
            else vstack(a[pos])
            for i, a in enumerate(args)
        ]
        res = f(*ins, p)
        if out is None:
            out = np.empty((n,) + res.shape[1:], dtype=res.dtype)
        out[pos] = res
    return out


def _float(f: Callable) -> Callable:
    def g(x: np.ndarray, p: dict) -> np.ndarray:
        with np.errstate(all="ignore"):
            return f(x.astype(FLOAT, copy=False)).astype(x.dtype, copy=False)

    return g


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))


def _erf(x: np.ndarray) -> np.ndarray:
    # Imported on first use: scipy.special costs ~0.4 s CPU to import, in every process
    # that loads STeP (each `agent eval`), and only gelu_erf needs it.
    from scipy import special

    return special.erf(x)


for _name, _f, _fl in [
    ("exp", np.exp, 4),
    ("log", np.log, 4),
    ("sigmoid", _sigmoid, 4),
    ("tanh", np.tanh, 4),
    ("sqrt", np.sqrt, 4),
    ("rsqrt", lambda x: 1.0 / np.sqrt(x), 4),
    ("silu", lambda x: x * _sigmoid(x), 8),
    ("gelu", _gelu, 8),
    ("gelu_erf", lambda x: 0.5 * x * (1.0 + _erf(x * 0.7071067811865476)), 8),
    ("relu", lambda x: np.maximum(x, 0), 1),
    ("neg", np.negative, 1),
    ("abs", np.abs, 1),
    ("recip", lambda x: 1.0 / x, 1),
    ("square", np.square, 1),
]:
    _register("map", _name, batched(_float(_f)), _per_elem(_fl))

_register("map", "scale", batched(lambda x, p: (x * p["factor"]).astype(x.dtype)), _per_elem(1))
_register("map", "add_scalar", batched(lambda x, p: (x + p["value"]).astype(x.dtype)), _per_elem(1))
_register(
    "map",
    "cast",
    batched(
        lambda x, p: x.astype(
            np.int64
            if p["dtype"] in ("int32", "int64")
            else np.bool_
            if p["dtype"] == "bool"
            else FLOAT
        )
    ),
    _per_elem(1),
)
_register("map", "transpose", batched(lambda x, p: np.swapaxes(x, 1, 2).copy()), _zero)


def _rotate_half(x: np.ndarray, p: dict) -> np.ndarray:
    h = x.shape[2] // 2
    return np.concatenate([-x[:, :, h:], x[:, :, :h]], axis=2)


_register("map", "rotate_half", batched(_rotate_half), _per_elem(1))
_register("map", "row_sum", batched(lambda x, p: x.sum(axis=2, keepdims=True)), _per_elem(1))
_register(
    "map",
    "row_max",
    batched(lambda x, p: x.max(axis=2, keepdims=True, initial=-np.inf).astype(x.dtype)),
    _per_elem(1),
)
_register(
    "map",
    "row_mean",
    batched(
        lambda x, p: (
            x.mean(axis=2, keepdims=True, dtype=FLOAT).astype(x.dtype)
            if x.shape[2]
            else np.zeros(x.shape[:2] + (1,), x.dtype)
        )
    ),
    _per_elem(1),
)
_register("map", "col_sum", batched(lambda x, p: x.sum(axis=1, keepdims=True)), _per_elem(1))
_register(
    "map",
    "col_max",
    batched(lambda x, p: x.max(axis=1, keepdims=True, initial=-np.inf).astype(x.dtype)),
    _per_elem(1),
)


def _binary(op: Callable) -> Callable:
    def f(a: np.ndarray, b: np.ndarray, p: dict) -> np.ndarray:
        with np.errstate(all="ignore"):
            return op(a, b).astype(a.dtype, copy=False)

    return batched(f)


for _name, _op in [
    ("add", np.add),
    ("sub", np.subtract),
    ("mul", np.multiply),
    ("maximum", np.maximum),
    ("minimum", np.minimum),
]:
    _register("map", _name, _binary(_op), _elems_out)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer):
        return np.floor_divide(a, np.where(b == 0, 1, b))
    return np.divide(a, b)


_register("map", "div", _binary(_div), _elems_out)


def _matmul(a: np.ndarray, b: np.ndarray, p: dict) -> np.ndarray:
    if p.get("transpose_b"):
        b = np.swapaxes(b, 1, 2)
    return np.matmul(a, b)


_register("map", "matmul", batched(_matmul, shared=True), _matmul_flops)
_register("map", "concat_cols", batched(lambda a, b, p: np.concatenate([a, b], axis=2)), _zero)


def _row_argmax(x: np.ndarray, p: dict) -> np.ndarray:
    """np.argmax takes the first of equal maxima: the lowest column wins a tie."""
    return np.argmax(x, axis=2, keepdims=True).astype(np.int64)


_register("map", "row_argmax", batched(_row_argmax), _per_elem(1))


def _mask_after(x: np.ndarray, n: np.ndarray, p: dict) -> np.ndarray:
    cols = np.arange(x.shape[2])[None, None, :]
    return np.where(cols >= n.reshape(-1, 1, 1), np.array(p["fill"], dtype=x.dtype), x)


_register("map", "mask_after", batched(_mask_after), _per_elem(1))

COMPARE_UFUNC = {
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "eq": np.equal,
    "ne": np.not_equal,
}


def _compare(a: np.ndarray, b: np.ndarray, p: dict) -> np.ndarray:
    return COMPARE_UFUNC[p["op"]](a, b).astype(a.dtype)


def _where(cond: np.ndarray, a: np.ndarray, b: np.ndarray, p: dict) -> np.ndarray:
    return np.where(cond != 0, a, b).astype(a.dtype, copy=False)


def _iota(x: np.ndarray, p: dict) -> np.ndarray:
    axis = 2 if p["axis"] == 1 else 1
    index = np.arange(x.shape[axis], dtype=np.int64)
    index = index[None, None, :] if axis == 2 else index[None, :, None]
    return np.broadcast_to(index, x.shape).copy()


_register("map", "compare", batched(_compare), _elems_out)
_register("map", "where", batched(_where), _elems_out)
_register("map", "iota", batched(_iota), _per_elem(1))


def _to_selector(args: list, p: dict) -> np.ndarray:
    ids = vstack(args[0])
    n = p["n"]
    ids = ids.reshape(len(ids), -1)
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        bad = int(ids[(ids < 0) | (ids >= n)][0])
        raise ExecutionError(f"to_selector: id {bad} is outside 0..{n - 1}")
    out = np.zeros((len(ids), n), dtype=bool)
    out[np.repeat(np.arange(len(ids)), ids.shape[1]), ids.reshape(-1)] = True
    return out


def _selector_to_index(args: list, p: dict) -> np.ndarray:
    sel = np.asarray(args[0], dtype=bool)
    if len(sel) and not sel.any(axis=1).all():
        raise ExecutionError("selector_to_index: a selector chooses nothing")
    return sel.argmax(axis=1).astype(np.int64).reshape(-1, 1, 1)


_register("map", "to_selector", _to_selector, _one)
_register("map", "selector_to_index", _selector_to_index, _one)
_register("map", "affine_index", batched(lambda x, p: x * p["scale"] + p["offset"]), _one)
_register("map", "ceil_div", batched(lambda x, p: -(-x // p["divisor"])), _one)


# --- accum: fold(args, starts, ends, params) -> one value per chunk ----------------------------
_FOLD_UFUNC = {
    "add": (np.add, 0.0),
    "mul": (np.multiply, 1.0),
    "max": (np.maximum, -np.inf),
    "min": (np.minimum, np.inf),
}


def _fold_ufunc(name: str) -> Callable:
    ufunc, init = _FOLD_UFUNC[name]

    def fold(
        args: list,
        starts: np.ndarray,
        ends: np.ndarray,
        p: dict,
        empty_shape: tuple[int, ...] | None,
    ) -> object:
        x = vstack(args[0])
        if x is not None:
            return _segment_reduce(ufunc, init, x, starts, ends, empty_shape)
        out = []
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            if e == s:
                out.append(_init_tile(init, empty_shape, args[0]))
            else:
                acc = args[0][s]
                for v in args[0][s + 1 : e]:
                    acc = ufunc(acc, v)
                out.append(acc)
        return out

    return fold


def _init_tile(init: float, shape: tuple[int, ...] | None, like: object) -> np.ndarray:
    if shape is None:
        raise ExecutionError("accum: an empty chunk of dynamic tiles has no initial value")
    return np.full(shape, _identity(init, np.dtype(FLOAT)), dtype=FLOAT)


def _segment_reduce(
    ufunc: np.ufunc,
    init: float,
    x: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    empty_shape: tuple[int, ...] | None,
) -> np.ndarray:
    shape = x.shape[1:] if len(x) else (empty_shape or ())
    out = np.empty((len(starts),) + tuple(shape), dtype=x.dtype)
    full = ends > starts
    if full.any():
        out[full] = ufunc.reduceat(x, starts[full], axis=0)
    if (~full).any():
        out[~full] = _identity(init, x.dtype)
    return out


def _identity(init: float, dtype: np.dtype) -> object:
    if np.issubdtype(dtype, np.integer) and not np.isfinite(init):
        info = np.iinfo(dtype)
        return info.min if init < 0 else info.max
    return init


def _fold_matmul(
    args: list, starts: np.ndarray, ends: np.ndarray, p: dict, empty_shape: tuple[int, ...] | None
) -> object:
    prods = batched(_matmul, shared=True)(args, p)
    return _fold_ufunc("add")([prods], starts, ends, p, empty_shape)


def _fold_retile(axis: int) -> Callable:
    def fold(
        args: list,
        starts: np.ndarray,
        ends: np.ndarray,
        p: dict,
        empty_shape: tuple[int, ...] | None,
    ) -> object:
        x = vstack(args[0])
        sizes = ends - starts
        if x is not None and len(sizes) and (sizes == sizes[0]).all() and sizes[0] > 0:
            k = int(sizes[0])
            n, r, c = x.shape
            blocks = x.reshape(len(sizes), k, r, c)
            if axis == 0:
                return blocks.reshape(len(sizes), k * r, c)
            return blocks.transpose(0, 2, 1, 3).reshape(len(sizes), r, k * c)
        out = []
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            parts = x[s:e] if x is not None else [args[0][i] for i in range(s, e)]
            if not len(parts):
                shape = (
                    (0, empty_shape[1])
                    if axis == 0 and empty_shape
                    else ((empty_shape[0], 0) if empty_shape else (0, 0))
                )
                out.append(np.zeros(shape, dtype=FLOAT))
            else:
                out.append(np.concatenate(parts, axis=axis))
        return out

    return fold


for _name in _FOLD_UFUNC:
    _register("accum", _name, _fold_ufunc(_name), _elems_out)
_register(
    "accum",
    "matmul",
    _fold_matmul,
    lambda s, p: (
        _matmul_flops(s, p) + s[0][:, 0] * (s[1][:, 0] if p.get("transpose_b") else s[1][:, 1])
    ),
)
_register("accum", "retile_row", _fold_retile(0), _zero)
_register("accum", "retile_col", _fold_retile(1), _zero)


# --- scan: scan(args, segment id per value, params) -> one output per value -----------------
def _scan_ufunc(name: str) -> Callable:
    ufunc, _ = _FOLD_UFUNC[name]

    def scan(args: list, seg: np.ndarray, p: dict) -> object:
        out = []
        acc = None
        prev = -1
        for i, v in enumerate(args[0]):
            acc = v if seg[i] != prev else ufunc(acc, v)
            prev = seg[i]
            out.append(acc)
        x = vstack(out)
        return x if x is not None else out

    return scan


def _scan_least_loaded(args: list, seg: np.ndarray, p: dict) -> np.ndarray:
    work = np.asarray(vstack(args[0])).reshape(-1).tolist()
    regions = p["regions"]
    out = np.zeros((len(work), regions), dtype=bool)
    load = [0] * regions
    prev = -1
    for i, w in enumerate(work):
        if seg[i] != prev:
            load = [0] * regions
            prev = seg[i]
        best = min(range(regions), key=lambda r: (load[r], r))
        load[best] += int(w)
        out[i, best] = True
    return out


for _name in _FOLD_UFUNC:
    _register("scan", _name, _scan_ufunc(_name), _elems_out)
_register("scan", "least_loaded", _scan_least_loaded, _one)


# --- flat_map: expand(args, params) -> (list of sub-stream lengths, values) ----------------
def _split(axis: int) -> Callable:
    def expand(args: list, p: dict) -> tuple[np.ndarray, object]:
        size = p["rows"] if axis == 0 else p["cols"]
        x = vstack(args[0])
        if x is not None and x.shape[1 + axis] % size == 0 and x.shape[1 + axis] > 0:
            n, r, c = x.shape
            k = x.shape[1 + axis] // size
            if axis == 0:
                parts = x.reshape(n * k, size, c)
            else:
                parts = x.reshape(n, r, k, size).transpose(0, 2, 1, 3).reshape(n * k, r, size)
            return np.full(n, k, dtype=np.int64), parts
        lengths, out = [], []
        for v in args[0]:
            pieces = [
                v[i : i + size] if axis == 0 else v[:, i : i + size]
                for i in range(0, v.shape[axis], size)
            ]
            lengths.append(len(pieces))
            out.extend(pieces)
        return np.array(lengths, dtype=np.int64), out

    return expand


def _arange(args: list, p: dict) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vstack(args[0])).reshape(-1)
    vals = v[:, None] + p["stride"] * np.arange(p["count"])[None, :]
    return np.full(len(v), p["count"], dtype=np.int64), vals.reshape(-1, 1, 1)


def _range(args: list, p: dict) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vstack(args[0])).reshape(-1, 2)
    counts = v[:, 1]
    if (counts < 0).any():
        raise ExecutionError(f"range: negative count {int(counts[counts < 0][0])}")
    if counts.sum() > 50_000_000:
        raise ExecutionError(f"range: {int(counts.sum())} addresses is too many")
    starts = np.repeat(v[:, 0], counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return counts.astype(np.int64), (starts + p["stride"] * offsets).reshape(-1, 1, 1)


_register("flat_map", "split_rows", _split(0), _zero)
_register("flat_map", "split_cols", _split(1), _zero)
_register("flat_map", "arange", _arange, lambda s, p: np.full(len(s[0]), p["count"]))
_register("flat_map", "range", _range, _one)
