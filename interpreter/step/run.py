"""The functional pass: walk the IR once, producing every stream as arrays.

The shared pass walker (`interpreter/core/walker.py`, after torch.fx's `Interpreter`)
dispatches each node to its registered rule (`interpreter/step/semantics.py`); what ops
flagged `USES_COMPUTE` emit as bfloat16 / float16 is rounded to that type
(`precision.py`). After each node the declared symbolic shapes are checked against the
streams actually produced: static and task dims must match exactly, a fresh dynamic dim
(a partition count, say) is bound the first time it is seen, and ragged dims are free.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from dsl.core.spec import USES_COMPUTE
from dsl.step.ir import Node, Port, Program
from dsl.step.ops import OPS
from dsl.step.symbolic import RAGGED, Expr, Sym
from dsl.step.types import StreamType, Tile
from interpreter.core.walker import Walker
from interpreter.errors import ExecutionError
from interpreter.step.precision import round_stream
from interpreter.step.semantics import SEMANTICS, RunContext
from interpreter.step.streams import LazyTiles, StreamData, observed_dim, regular_stops


def run_functional(
    program: Program,
    inputs: dict[str, np.ndarray],
    dims: dict[str, int],
    merge_order: dict[int, np.ndarray] | None = None,
    keep: bool = False,
) -> tuple[RunContext, dict[Port, StreamData]]:
    """Run every node; return the context (stores, off-chip accesses) and, with `keep`,
    every stream (the timing pass needs them)."""
    missing = [n for n, t in program.tensors.items() if t.role == "input" and n not in inputs]
    if missing:
        raise ExecutionError(f"no data for input {missing[0]!r}")
    ctx = RunContext(program, inputs, dict(dims), dict(merge_order or {}))
    for name, t in program.tensors.items():
        if t.role == "input":
            want = tuple(ctx.value(d, program.nodes[0], f"{name} dim") for d in t.shape)
            if tuple(np.shape(inputs[name])) != want:
                raise ExecutionError(
                    f"input {name!r} has shape {list(np.shape(inputs[name]))}"
                    f", the program expects {list(want)}"
                )
            have = np.asarray(inputs[name]).dtype.name
            if have != t.dtype:  # bytes are charged for the declared dtype: it must be true
                raise ExecutionError(f"input {name!r} is {have} but the program declares {t.dtype}")
    streams = FunctionalPass(program, SEMANTICS, ctx).run(keep=keep)
    return ctx, streams


class FunctionalPass(Walker):
    """The walker with STeP's two additions: what compute ops emit as bfloat16 / float16 is
    rounded to that type, and every output is checked against its declared shape.

    Most ops pass their input's stops (map, zip) or the whole stream (copy) on, so the
    same arrays come up for checking again and again; a check is skipped when the same
    arrays were checked against the same declared dims with the same known values (its
    outcome would be the same: it neither fails nor binds a dim then). The declared dims'
    values are kept too: thousands of outputs share a few shapes, and the pass's dims
    only ever gain values (a fresh dim is bound once)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._checked: dict[tuple, tuple] = {}  # key -> the arrays (kept: ids stay unique)
        self._wants: dict[tuple, tuple] = {}  # (declared dims, number of known dims) -> values

    def call(self, node: Node, inputs: list[StreamData]) -> list[StreamData]:
        outs = super().call(node, inputs)
        if OPS[node.op].has(USES_COMPUTE):
            outs = [round_stream(s, t.elem) for s, t in zip(outs, node.outputs, strict=True)]
        return outs

    def store(self, node: Node, outputs: list[StreamData], values: dict[Port, StreamData]) -> None:
        dims = self.context.dims
        for i, (s, t) in enumerate(zip(outputs, node.outputs, strict=True)):
            wants = self._declared(t.shape)
            key = (id(s.stop), id(s.has_value), t.shape, wants)
            if key not in self._checked:
                if not _regular_as_declared(s, t, wants):
                    _check_structure(node, i, s, t, dims)
                self._checked[key] = (s.stop, s.has_value)
            elem = t.elem
            if isinstance(elem, Tile) and s.n_values and not isinstance(s.values, tuple):
                wants = (elem.rows.evaluate(dims), elem.cols.evaluate(dims))
                key = (id(s.values), elem, wants, node.op == "flat_map")
                if key not in self._checked:
                    _check_tiles(node, i, s, elem, dims)
                    self._checked[key] = (s.values,)
        super().store(node, outputs, values)

    def _declared(self, shape: tuple[Expr, ...]) -> tuple:
        """The values of declared dims `shape` (None where unknown yet)."""
        dims = self.context.dims
        key = (shape, len(dims))
        wants = self._wants.get(key)
        if wants is None:
            wants = self._wants[key] = tuple(e.evaluate(dims) for e in shape)
        return wants


def _single_symbol(e: Expr) -> Sym | None:
    if len(e.terms) == 1:
        mono, coef = e.terms[0]
        if coef == 1 and len(mono) == 1 and isinstance(mono[0], Sym):
            return mono[0]
    return None


def _regular_as_declared(s: StreamData, t: StreamType, wants: tuple) -> bool:
    """Whether the stream is the regular one of its declared dims, all known and non-zero
    (most streams): then `_check_structure` passes and binds nothing. One comparison with
    the regular stops costs a few numpy calls, where the check costs some ten per dim."""
    if any(w is None or w < 1 for w in wants) or any(e.is_ragged for e in t.shape):
        return False
    n = 1
    for w in wants:
        n *= w
    if s.n_items != n or not s.has_value.all():
        return False
    return np.array_equal(s.stop, _stops(wants) if n <= 1 << 16 else regular_stops(wants))


@lru_cache(maxsize=256)
def _stops(shape: tuple[int, ...]) -> np.ndarray:
    """`regular_stops`, read-only and made once per shape: a program's thousands of
    streams have a few shapes (kept for small ones: at most 16 MiB in all)."""
    stop = regular_stops(shape)
    stop.setflags(write=False)
    return stop


def _check_structure(
    node: Node, port: int, s: StreamData, t: StreamType, dims: dict[str, int]
) -> None:
    """The stream's run lengths against its declared dims (binding fresh dynamic ones)."""
    rank = t.rank
    for pos, expr in enumerate(t.shape):
        if expr.is_ragged or (pos > 0 and s.n_items == 0):
            continue
        want = expr.evaluate(dims)
        vals = sorted(observed_dim(s, rank, rank - pos).tolist())
        if want is None:
            sym = _single_symbol(expr)
            if sym is not None and sym.kind != RAGGED and len(vals) == 1:
                dims[sym.name] = vals[0]
                continue
            if sym is not None and len(vals) > 1:
                raise ExecutionError(
                    f"{node.label()}: output {port} dim {pos} ({expr}) is "
                    f"declared regular but takes the values {vals[:5]}"
                )
            continue
        if vals != [want]:
            raise ExecutionError(
                f"{node.label()}: output {port} has shape {t.shape} but dim "
                f"{pos} ({expr} = {want}) is {vals[:5]} at run time"
            )


def _check_tiles(node: Node, port: int, s: StreamData, elem: Tile, dims: dict[str, int]) -> None:
    """The tiles' rows and cols against the declared tile type (binding fresh dims)."""
    for axis, (e, got) in enumerate(zip((elem.rows, elem.cols), _tile_dims(s), strict=True)):
        want = e.evaluate(dims)
        if want is None:
            sym = _single_symbol(e)
            if sym is not None and sym.kind != RAGGED and len(got) == 1:
                dims.setdefault(sym.name, int(got[0]))
            continue
        if not (len(got) == 1 and int(got[0]) == want) and not _split_edge(node, got, want):
            raise ExecutionError(
                f"{node.label()}: output {port} tiles should be {elem} "
                f"but have {'rows' if axis == 0 else 'cols'} "
                f"{[int(g) for g in got[:5]]}"
            )


def _tile_dims(s: StreamData) -> tuple[np.ndarray, np.ndarray]:
    """The distinct tile rows and cols of a non-empty stream's values (stacked and lazy
    tiles share one shape, read off the container: this runs after every node)."""
    values = s.values
    if isinstance(values, LazyTiles):
        return np.array(values.grid.shape[1:2]), np.array(values.grid.shape[2:3])
    if isinstance(values, np.ndarray):
        rows, cols = values.shape[1:] if values.ndim == 3 else (0, 0)
        return np.array([rows]), np.array([cols])
    shapes = s.value_shapes
    col_r, col_c = shapes[:, 0], shapes[:, 1]
    return tuple(c[:1] if (c == c[0]).all() else np.unique(c) for c in (col_r, col_c))


def _split_edge(node: Node, got: np.ndarray, want: int) -> bool:
    """split_rows/split_cols may leave one smaller last piece (documented)."""
    return node.op == "flat_map" and int(got.max()) <= want
