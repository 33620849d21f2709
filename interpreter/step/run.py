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
from interpreter.core.walker import Walker, check_count
from interpreter.errors import ExecutionError
from interpreter.step.precision import has_half, round_stream
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
    per node, whether it rounds to half precision (a `USES_COMPUTE` op with a half
    precision output) and its output ports; per output, its declared shape (numbered:
    equal shapes, one number) and how to read its dims' values (`_readers`), whether a
    dim of it is ragged, and its tile type (numbered likewise, with whether the check of
    each of its two dims can bind a symbol), or None for other elements. A program of
    thousands of nodes otherwise hashes the same symbolic shapes again on every output of
    every run.

    It belongs to the very program object it was read from, as long as that object's nodes
    and what was read off them are the same objects (`of`): a program changed in place
    (object.__setattr__ on a frozen node, say) gets a new one."""

    def __init__(self, program: Program) -> None:
        self._program = weakref.ref(program)  # not kept alive by a cache of this
        # what `of` compares (held: an id of a dead object may be reused)
        self._read = (program.nodes, [(n.op, n.outputs) for n in program.nodes])
        self.rounds = [
            OPS[n.op].has(USES_COMPUTE) and any(has_half(t.elem) for t in n.outputs)
            for n in program.nodes
        ]
        # output ports, each the very Port object a consumer reads it by when there is one
        # (a dict finds a key by identity before it compares)
        read = {(p.node, p.index): p for n in program.nodes for p in n.inputs}
        self.ports = [
            tuple(read.get((n.id, i)) or Port(n.id, i) for i in range(len(n.outputs)))
            for n in program.nodes
        ]
        # shape -> (its `_readers`, its number, whether it is ragged); tile -> (it, its
        # number, whether each dim binds, the `_readers` of its dims)
        shapes: dict[tuple[Expr, ...], tuple] = {}
        tiles: dict[Tile, tuple] = {}
        self.outputs = []
        for n in program.nodes:
            row = []
            for t in n.outputs:
                shape, elem = t.shape, t.elem
                numbered = shapes.get(shape)
                if numbered is None:
                    ragged = any(e.is_ragged for e in shape)
                    numbered = shapes[shape] = (_readers(shape), len(shapes), ragged)
                tile = None
                if isinstance(elem, Tile):
                    tile = tiles.get(elem)
                    if tile is None:
                        binds = (_binds(elem.rows), _binds(elem.cols))
                        readers = _readers((elem.rows, elem.cols))
                        tile = tiles[elem] = (elem, len(tiles), binds, readers)
                row.append(numbered + (tile,))
            self.outputs.append(row)

    def of(self, program: Program) -> bool:
        """Whether this was read off `program` (the very object, still alive, unchanged)."""
        if self._program() is not program:
            return False
        nodes, read = self._read
        return program.nodes is nodes and all(
            n.op is op and n.outputs is outs for n, (op, outs) in zip(nodes, read, strict=True)
        )


SMALL_STREAM = 1024
"""Streams of at most this many items have their structure checks remembered by content
(`FunctionalPass.store`): a program's many small streams repeat a few structures (a MoE
layer's 128 experts get zero to three tokens each)."""


class FunctionalPass(Walker):
    """The walker with STeP's two additions: what compute ops emit as bfloat16 / float16 is
    rounded to that type, and every output is checked against its declared shape.

    The same stop-token structure comes up for checking again and again: most ops pass
    their input's stops on (map, zip) or the whole stream (copy), and a small program
    part repeated (per expert, per head) makes equal structures of its own. A structure
    check is skipped when the same structure (the same arrays, or for a small stream equal
    ones) was checked against the same declared dims with the same known values: its
    outcome would be the same (it neither fails nor binds a dim then). The declared dims'
    values are kept too: thousands of outputs share a few shapes, and the pass's dims only
    ever gain values (a fresh dim is bound once)."""

    def __init__(self, program: Program, rules, context: RunContext, declared: Declared) -> None:
        super().__init__(program, rules, context)
        self.declared = declared
        # structures (by their arrays' ids, or small ones by content) and tiles (by ids)
        # checked -> the arrays (kept: ids stay unique), or None
        self._checked: dict[tuple, tuple | None] = {}
        # shape number -> its values and what decides its check (`_wanted`); tile number
        # -> its rows' and cols' values; each with the dims they wait for (`_known_values`)
        self._wants: dict[int, tuple] = {}
        self._tile_wants: dict[int, tuple] = {}

    def store(self, node: Node, outputs: list[StreamData], values: dict[Port, StreamData]) -> None:
        check_count(node, outputs)
        declared = self.declared.outputs[node.id]
        if self.declared.rounds[node.id]:
            outputs = [round_stream(s, t.elem) for s, t in zip(outputs, node.outputs, strict=True)]
        dims = self.context.dims
        checked, shapes, tiles = self._checked, self._wants, self._tile_wants
        for i, (s, (readers, shape_no, ragged, tile)) in enumerate(
            zip(outputs, declared, strict=True)
        ):
            entry = shapes.get(shape_no)
            if entry is None or (entry[0] and _bound_since(entry[0], dims)):
                entry = shapes[shape_no] = _wanted(readers, shape_no, dims)
            _, wants, decides = entry
            stop, has = s.stop, s.has_value
            same = (id(stop), id(has), decides)  # these very arrays (map, copy: often)
            if same not in checked:
                small = len(stop) <= SMALL_STREAM
                equal = small and (stop.tobytes(), has.tobytes(), stop.dtype, has.dtype, decides)
                if not small or equal not in checked:
                    if ragged or not _regular_as_declared(s, wants):
                        _check_structure(node, i, s, node.outputs[i], dims)
                    if small:
                        checked[equal] = None
                checked[same] = (stop, has)
            held = s.values
            if tile is None or isinstance(held, tuple) or not len(held):
                continue
            elem, tile_no, binds, readers = tile
            entry = tiles.get(tile_no)
            if entry is None or (entry[0] and _bound_since(entry[0], dims)):
                entry = tiles[tile_no] = _known_values(readers, dims)
            rows, cols = wants = entry[1]
            one = _one_tile_shape(held)
            if (
                one is not None
                and (rows == one[0] if rows is not None else not binds[0])
                and (cols == one[1] if cols is not None else not binds[1])
            ):  # every tile as declared (or of a free ragged dim): `_check_tiles` would pass
                continue
            key = (id(held), tile_no, wants, node.op == "flat_map")
            if key not in checked:
                _check_tiles(node, i, s, elem, dims)
                checked[key] = (held,)
        values.update(zip(self.declared.ports[node.id], outputs, strict=True))


def _readers(exprs: tuple[Expr, ...]) -> tuple[tuple, ...]:
    """How `_known_values` reads each of `exprs`: (its value if static, else None; its
    symbol's name if it is one symbol, else None; it; whether it is ragged). Most dims
    are one symbol or a number: a dict lookup, not `Expr.evaluate`."""
    out = []
    for e in exprs:
        sym = _single_symbol(e)
        out.append((e.value if e.is_static else None, sym and sym.name, e, e.is_ragged))
    return tuple(out)


def _known_values(readers: tuple[tuple, ...], dims: dict[str, int]) -> tuple[tuple, tuple]:
    """(the symbols without a value, the values given `dims`) of the expressions
    `readers` reads (`_readers`), as `Expr.evaluate` gives them. The pass's dims only gain
    values, and never change one: the values stay what they are until one of those
    symbols is bound (`_bound_since`)."""
    values: list[int | None] = []
    waits: list[str] = []
    for static, name, e, _ in readers:
        if static is not None:
            values.append(static)
        elif name is not None:
            if name in dims:
                values.append(int(dims[name]))
            else:
                values.append(None)
                waits.append(name)
        else:
            v = e.evaluate(dims)
            values.append(v)
            if v is None:
                waits += [s.name for s in e.symbols() if s.name not in dims]
    return tuple(waits), tuple(values)


def _bound_since(waits: tuple[str, ...], dims: dict[str, int]) -> bool:
    """Whether one of the symbols `_known_values` found without a value has one now."""
    return any(name in dims for name in waits)


_RAGGED_DIM = "ragged"  # a dim the structure check skips, in the keys of `_wanted`


def _wanted(readers: tuple[tuple, ...], shape_no: int, dims: dict[str, int]) -> tuple:
    """`_known_values` of a declared shape (its `_readers`), and what decides the outcome
    of `_check_structure` with them: the value of every dim it checks and which dims it
    skips (ragged ones), and, when a checked dim has no value yet (the check may bind it),
    the shape itself (its number): equal shapes of other symbols (a program part repeated
    per expert, say) with the same values check alike."""
    waits, wants = _known_values(readers, dims)
    decides = tuple(_RAGGED_DIM if r[3] else w for r, w in zip(readers, wants, strict=True))
    return waits, wants, decides + (shape_no,) if None in decides else decides


def _binds(e: Expr) -> bool:
    """Whether a check of a tile dim declared `e` may bind a symbol (`_check_tiles`)."""
    sym = _single_symbol(e)
    return sym is not None and sym.kind != RAGGED


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
