"""Element types of STeP streams and the type of a whole stream.

A stream of rank r has shape `(d_r, ..., d_1, d_0)` (outermost first, r + 1 dims): `d_0`
elements in a row, then the stop token S1; `d_1` such rows, then S2; ...; `d_r` rank-r
tensors, each ending with S_r; then Done. When several dimensions end together only the
highest stop is emitted.

Element types: `Tile` (a 2-D block of scalars; its rows/cols may be symbolic for dynamic
tiles), `Selector` (a multi-hot over n choices), `Buffer` (a read-only reference to on-chip
memory holding a tensor of tiles) and `TupleT` (what `zip` makes).
"""

from __future__ import annotations

from dataclasses import dataclass

from dsl.step.limits import MAX_CHOICES, MAX_RANK, LimitError, check_tile
from dsl.step.symbolic import Expr, expr_from_json, shape_str

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int32": 4, "int64": 8, "bool": 1}
"""Scalar dtypes and their sizes in bytes. bfloat16 and float16 values are held in float32
arrays but rounded to their type whenever a compute op produces them
(`interpreter/step/precision.py`), so 2 bytes is what they hold."""

INT_DTYPES = ("int32", "int64")


@dataclass(frozen=True)
class Tile:
    dtype: str
    rows: Expr
    cols: Expr

    def __str__(self) -> str:
        return f"Tile<{self.dtype}>[{self.rows}, {self.cols}]"

    @property
    def is_static(self) -> bool:
        return self.rows.is_static and self.cols.is_static


@dataclass(frozen=True)
class Selector:
    """Multi-hot over `n` choices (which consumers / inputs an element goes to)."""

    n: int

    def __str__(self) -> str:
        return f"Selector[{self.n}]"


@dataclass(frozen=True)
class Buffer:
    """A reference to an on-chip buffer holding a tensor of `elem` with `shape`."""

    elem: ElemType
    shape: tuple[Expr, ...]

    def __str__(self) -> str:
        return f"Buffer<{self.elem}>{shape_str(self.shape)}"


@dataclass(frozen=True)
class TupleT:
    items: tuple[ElemType, ...]

    def __str__(self) -> str:
        return "(" + ", ".join(str(t) for t in self.items) + ")"


ElemType = Tile | Selector | Buffer | TupleT


@dataclass(frozen=True)
class StreamType:
    """Element type plus symbolic shape `(d_rank, ..., d_0)`, outermost first."""

    elem: ElemType
    shape: tuple[Expr, ...]

    @property
    def rank(self) -> int:
        return len(self.shape) - 1

    def __str__(self) -> str:
        return f"Stream<{self.elem}>{shape_str(self.shape)}"


def tile(dtype: str, rows: int | Expr, cols: int | Expr) -> Tile:
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPE_BYTES)}")
    return Tile(dtype, Expr.of(rows), Expr.of(cols))


def elem_bytes(elem: ElemType, dims: dict[str, int] | None = None) -> int | None:
    """Size of one element in bytes (None when a symbolic size has no value in `dims`).

    A buffer reference counts as an 8-byte address; a selector as one byte per 8 choices.
    """
    dims = dims or {}
    if isinstance(elem, Tile):
        r, c = elem.rows.evaluate(dims), elem.cols.evaluate(dims)
        return None if r is None or c is None else r * c * DTYPE_BYTES[elem.dtype]
    if isinstance(elem, Selector):
        return max(1, -(-elem.n // 8))
    if isinstance(elem, Buffer):
        return 8
    sizes = [elem_bytes(t, dims) for t in elem.items]
    return None if any(s is None for s in sizes) else sum(sizes)


def check_stream(t: StreamType) -> None:
    """Ranges of a derived stream type (LimitError): rank, static tile sizes, selector widths."""
    if t.rank > MAX_RANK:
        raise LimitError(f"rank {t.rank} is more than {MAX_RANK}")
    _check_elem(t.elem)


def _check_elem(e: ElemType) -> None:
    if isinstance(e, Tile) and e.is_static:
        check_tile(e.rows.value, e.cols.value)
    elif isinstance(e, Selector) and e.n > MAX_CHOICES:
        raise LimitError(f"a selector over {e.n} choices (at most {MAX_CHOICES})")
    elif isinstance(e, Buffer):
        _check_elem(e.elem)
    elif isinstance(e, TupleT):
        for item in e.items:
            _check_elem(item)


# --- JSON ------------------------------------------------------------------------------
def elem_to_json(elem: ElemType) -> dict:
    if isinstance(elem, Tile):
        return {"tile": elem.dtype, "rows": elem.rows.to_json(), "cols": elem.cols.to_json()}
    if isinstance(elem, Selector):
        return {"selector": elem.n}
    if isinstance(elem, Buffer):
        return {"buffer": elem_to_json(elem.elem), "shape": [d.to_json() for d in elem.shape]}
    return {"tuple": [elem_to_json(t) for t in elem.items]}


def elem_from_json(data: object, symbols: dict[str, str]) -> ElemType:
    """Parse `elem_to_json` output; ValueError with a short reason when malformed."""
    if not isinstance(data, dict):
        raise ValueError(f"malformed element type {data!r}")
    keys = set(data)
    if keys == {"tile", "rows", "cols"}:
        if data["tile"] not in DTYPE_BYTES:
            raise ValueError(f"unknown dtype {data['tile']!r}")
        return Tile(
            data["tile"],
            expr_from_json(data["rows"], symbols),
            expr_from_json(data["cols"], symbols),
        )
    if (
        keys == {"selector"}
        and isinstance(data["selector"], int)
        and 0 < data["selector"] <= MAX_CHOICES
    ):
        return Selector(data["selector"])
    if keys == {"buffer", "shape"} and isinstance(data["shape"], list):
        return Buffer(
            elem_from_json(data["buffer"], symbols),
            tuple(expr_from_json(d, symbols) for d in data["shape"]),
        )
    if keys == {"tuple"} and isinstance(data["tuple"], list) and data["tuple"]:
        return TupleT(tuple(elem_from_json(t, symbols) for t in data["tuple"]))
    raise ValueError(f"malformed element type {data!r}")


def stream_to_json(t: StreamType) -> dict:
    return {"elem": elem_to_json(t.elem), "shape": [d.to_json() for d in t.shape]}


def stream_from_json(data: object, symbols: dict[str, str]) -> StreamType:
    if (
        not isinstance(data, dict)
        or set(data) != {"elem", "shape"}
        or not isinstance(data["shape"], list)
        or not data["shape"]
    ):
        raise ValueError(f"malformed stream type {data!r}")
    return StreamType(
        elem_from_json(data["elem"], symbols),
        tuple(expr_from_json(d, symbols) for d in data["shape"]),
    )
