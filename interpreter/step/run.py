"""The functional pass: walk the IR once, producing every stream as arrays.

The shared pass walker (`interpreter/core/walker.py`, after torch.fx's `Interpreter`)
dispatches each node to its registered rule (`interpreter/step/semantics.py`); what ops
flagged `USES_COMPUTE` emit as bfloat16 / float16 is rounded to that type
(`precision.py`). After each node the declared symbolic shapes are checked against the
streams actually produced: static and task dims must match exactly, a fresh dynamic dim
(a partition count, say) is bound the first time it is seen, and ragged dims are free.
"""

from __future__ import annotations

import weakref
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
    declared: Declared | None = None,
) -> tuple[RunContext, dict[Port, StreamData]]:
    """Run every node; return the context (stores, off-chip accesses) and, with `keep`,
    every stream (the timing pass needs them). `declared`, the program's `Declared` (made
    here if not given), lets several runs of one program share it."""
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
    if declared is None or not declared.of(program):
        declared = Declared(program)
    streams = FunctionalPass(program, SEMANTICS, ctx, declared).run(keep=keep)
    return ctx, streams


class Declared:
    """What the functional pass checks every output against, read off the program once:
    per node, whether it rounds to half precision (`USES_COMPUTE`), and per output its
    declared shape (numbered: equal shapes, one number), whether a dim of it is ragged and
    its tile type (numbered likewise), or None for other elements. A program of thousands
    of nodes otherwise hashes the same symbolic shapes again on every output of every run."""

    def __init__(self, program: Program) -> None:
        self._program = weakref.ref(program)  # not kept alive by a cache of this
        shapes: dict[tuple[Expr, ...], int] = {}
        tiles: dict[Tile, int] = {}
        self.rounds = [OPS[n.op].has(USES_COMPUTE) for n in program.nodes]
        self.outputs = [
            [
                (
                    t.shape,
                    shapes.setdefault(t.shape, len(shapes)),
                    any(e.is_ragged for e in t.shape),
                    (t.elem, tiles.setdefault(t.elem, len(tiles)))
                    if isinstance(t.elem, Tile)
                    else None,
                )
                for t in n.outputs
            ]
            for n in program.nodes
        ]

    def of(self, program: Program) -> bool:
        """Whether this was read off `program` (the very object, still alive)."""
        return self._program() is program


class FunctionalPass(Walker):
    """The walker with STeP's two additions: what compute ops emit as bfloat16 / float16 is
    rounded to that type, and every output is checked against its declared shape.

    Most ops pass their input's stops (map, zip) or the whole stream (copy) on, so the
    same arrays come up for checking again and again; a check is skipped when the same
    arrays were checked against the same declared dims with the same known values (its
    outcome would be the same: it neither fails nor binds a dim then). The declared dims'
    values are kept too: thousands of outputs share a few shapes, and the pass's dims
    only ever gain values (a fresh dim is bound once)."""

    def __init__(self, program: Program, rules, context: RunContext, declared: Declared) -> None:
        super().__init__(program, rules, context)
        self.declared = declared
        self._checked: dict[tuple, tuple] = {}  # key -> the arrays (kept: ids stay unique)
        self._wants: dict[tuple, tuple] = {}  # (shape number, number of known dims) -> values

    def call(self, node: Node, inputs: list[StreamData]) -> list[StreamData]:
        outs = super().call(node, inputs)
        if self.declared.rounds[node.id]:
            outs = [round_stream(s, t.elem) for s, t in zip(outs, node.outputs, strict=True)]
        return outs

    def store(self, node: Node, outputs: list[StreamData], values: dict[Port, StreamData]) -> None:
        dims = self.context.dims
        checked = self._checked
        for i, (s, (shape, shape_no, ragged, tile)) in enumerate(
            zip(outputs, self.declared.outputs[node.id], strict=True)
        ):
            known = len(dims)  # a check below may bind a dim
            wants = self._wants.get((shape_no, known))
            if wants is None:
                wants = self._wants[shape_no, known] = tuple(e.evaluate(dims) for e in shape)
            key = (id(s.stop), id(s.has_value), shape_no, wants)
            if key not in checked:
                if ragged or not _regular_as_declared(s, wants):
                    _check_structure(node, i, s, node.outputs[i], dims)
                checked[key] = (s.stop, s.has_value)
            if tile is not None and s.n_values and not isinstance(s.values, tuple):
                elem, tile_no = tile
                wants = (elem.rows.evaluate(dims), elem.cols.evaluate(dims))
                if _one_tile_shape(s.values) == wants:  # `_check_tiles` would pass, bind nothing
                    continue
                key = (id(s.values), tile_no, wants, node.op == "flat_map")
                if key not in checked:
                    _check_tiles(node, i, s, elem, dims)
                    checked[key] = (s.values,)
        super().store(node, outputs, values)


def _single_symbol(e: Expr) -> Sym | None:
    if len(e.terms) == 1:
        mono, coef = e.terms[0]
        if coef == 1 and len(mono) == 1 and isinstance(mono[0], Sym):
            return mono[0]
    return None


def _regular_as_declared(s: StreamData, wants: tuple) -> bool:
    """Whether the stream is the regular one of its declared dims (none ragged), all known
    and non-zero (most streams): then `_check_structure` passes and binds nothing. One
    comparison with the regular stops costs a few numpy calls, where the check costs some
    ten per dim."""
    if any(w is None or w < 1 for w in wants):
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
    empty = s.n_items == 0  # no item: its outermost dim is 0, the others are not seen
    for pos, expr in enumerate(t.shape):
        if expr.is_ragged or (pos > 0 and empty):
            continue
        want = expr.evaluate(dims)
        vals = [0] if empty else sorted(observed_dim(s, rank, rank - pos).tolist())
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


def _one_tile_shape(values: object) -> tuple[int, int] | None:
    """(rows, cols) of every tile of a stacked or lazily loaded container, else None."""
    if isinstance(values, np.ndarray):
        return values.shape[1:] if values.ndim == 3 else None
    if isinstance(values, LazyTiles):
        return values.grid.shape[1:]
    return None


def _split_edge(node: Node, got: np.ndarray, want: int) -> bool:
    """split_rows/split_cols may leave one smaller last piece (documented)."""
    return node.op == "flat_map" and int(got.max()) <= want
