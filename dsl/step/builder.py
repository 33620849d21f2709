"""The Python surface of STeP: one function per op, returning typed stream handles.

Every call checks its inputs at once (the op's rule in `dsl.step.ops`) and raises
`dsl.errors.ProgramError` naming the op, the input port and the disagreement, with the
line of the user's program. Streams are affine: consuming a handle twice raises at the
second use; a handle never consumed is reported when `trace` finishes.
"""

from __future__ import annotations

import builtins
import os
import sys
from collections.abc import Sequence
from functools import cache, lru_cache

from dsl.errors import ProgramError
from dsl.step.functions import FnRef, FnTypeError, make_ref
from dsl.step.ir import Node, Port, Program
from dsl.step.limits import LimitError, check_attr, check_tile
from dsl.step.ops import OPS, REQUIRED_ATTR, RuleEnv, RuleError, TensorDecl
from dsl.step.ops_routing import feedback_error
from dsl.step.symbolic import Expr
from dsl.step.types import ElemType, StreamType, check_stream

_HERE = os.path.dirname(os.path.abspath(__file__))


@lru_cache(maxsize=256)
def _in_dsl(filename: str) -> bool:
    """Whether a code object's file is in `dsl/step` (asked for every frame of every op
    a trace adds: the path arithmetic once per file)."""
    return os.path.dirname(os.path.abspath(filename)) == _HERE


def _user_line() -> int | None:
    """Line number of the innermost frame outside `dsl/step` (the user's call)."""
    frame = sys._getframe(1)
    while frame is not None and _in_dsl(frame.f_code.co_filename):
        frame = frame.f_back
    return frame.f_lineno if frame is not None else None


class Graph:
    """The program under construction (one per `trace`)."""

    def __init__(self, tensors: dict[str, TensorDecl], dims: dict[str, int | None]) -> None:
        self.tensors = tensors
        self.dims = dims
        self.nodes: list[Node] = []
        # (node, index) of each stream consumed -> its consumer (tuples: hashed in C)
        self.consumed: dict[tuple[int, int], Node] = {}
        self.symbols: dict[str, str] = {}
        for t in tensors.values():
            self._note_symbols(t.shape)

    def _note_symbols(self, dims: Sequence[Expr]) -> None:
        for d in dims:
            for s in d.symbols():
                self.symbols[s.name] = s.kind

    def _attr(self, op: str, key: str, kind: str, value: object) -> object:
        """Normalise a builder argument into its IR attribute form."""
        if value is None:
            return None
        try:  # the kinds are exclusive: the most common are tested first
            if kind in ("pos_int", "nat", "int"):
                if isinstance(value, Expr) and value.is_static:
                    value = value.value
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError
                if (kind == "pos_int" and value < 1) or (kind == "nat" and value < 0):
                    raise ValueError
                check_attr(op, key, value)
                return value
            if kind.startswith("fn:"):
                return make_ref(kind[3:], value)
            if kind == "dim":
                return self.dim(value)
            if kind == "shape":
                if isinstance(value, int | str | Expr):
                    value = (value,)
                return tuple(self.dim(v) for v in value)
            if kind == "tile":
                rows, cols = (v.value if isinstance(v, Expr) else v for v in value)
                if not all(
                    isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (rows, cols)
                ):
                    raise ValueError
                check_tile(rows, cols)
                return (rows, cols)
            if kind == "bool" and not isinstance(value, bool):
                raise ValueError
            return value
        except FnTypeError as exc:
            raise ProgramError(f"{op}: {exc}", line=_user_line()) from None
        except LimitError as exc:
            raise ProgramError(f"{op}: {key} {exc}", line=_user_line()) from None
        except (TypeError, ValueError):
            want = {
                "tile": "(rows, cols) of positive ints",
                "pos_int": "a positive int",
                "nat": "an int >= 0",
                "dim": "an int or a dim",
                "shape": "a list of dims",
                "bool": "True or False",
            }
            raise ProgramError(
                f"{op}: {key} must be {want.get(kind, kind)}, got {value!r}", line=_user_line()
            ) from None

    def dim(self, value: int | str | Expr) -> Expr:
        if isinstance(value, str):
            if value not in self.dims:
                raise ValueError(f"unknown dim {value!r}")
            v = self.dims[value]
            return Expr.sym(value) if v is None else Expr.const(v)
        return Expr.of(value)

    def add(self, op: str, inputs: Sequence[Stream], **given: object) -> list[Stream]:
        decl = OPS[op]
        line = _user_line()
        for i, h in enumerate(inputs):
            if not isinstance(h, Stream):
                raise ProgramError(
                    f"{op}: input {i} must be a stream, got {type(h).__name__}", line=line
                )
            if h.graph is not self:
                raise ProgramError(f"{op}: input {i} belongs to another trace", line=line)
            first = self.consumed.get((h.port.node, h.port.index))
            if first is not None:
                producer = self.nodes[h.port.node]
                raise ProgramError(
                    f"{op}: input {i} (output {h.port.index} of {producer.label()}) was "
                    f"already consumed by {first.label()}; streams are used "
                    f"once, use step.copy to fan out",
                    line=line,
                )
        attrs = {}
        for key, (kind, default) in decl.attrs.items():
            value = given.get(key, default)
            if value is REQUIRED_ATTR:
                raise ProgramError(f"{op}: missing argument {key!r}", line=line)
            attrs[key] = self._attr(op, key, kind, value)
        env = RuleEnv(self.tensors, len(self.nodes))
        try:
            outputs = decl.rule([h.type for h in inputs], attrs, env)
        except RuleError as exc:
            raise exc.located(ProgramError, where=op, line=line) from None
        for k, t in enumerate(outputs):
            try:
                check_stream(t)
            except LimitError as exc:
                raise ProgramError(f"{op}: output {k}: {exc}", line=line) from None
        node = Node(len(self.nodes), op, tuple(h.port for h in inputs), attrs, tuple(outputs), line)
        self.nodes.append(node)
        for h in inputs:
            self.consumed[h.port.node, h.port.index] = node
        # An output's symbols are its inputs' (noted when those were made), its dim
        # attributes' and the rule's fresh ones: only the last two can be new.
        if env.made_fresh or _takes_dims(op):
            for t in outputs:
                self._note_symbols(t.shape)
                self._note_symbols(_elem_dims(t.elem))
        return [Stream(self, Port(node.id, i), t) for i, t in enumerate(outputs)]

    def program(self) -> Program:
        return Program(
            tuple(self.nodes),
            dict(self.tensors),
            dict(self.symbols),
            tuple(k for k, v in self.dims.items() if v is None),
        )


@cache
def _takes_dims(op: str) -> bool:
    """Whether `op` has dim or shape attributes (which may name a task dim not seen yet)."""
    return any(kind in ("dim", "shape") for kind, _ in OPS[op].attrs.values())


def _elem_dims(elem: ElemType) -> list[Expr]:
    from dsl.step.types import Buffer, Tile, TupleT

    if isinstance(elem, Tile):
        return [elem.rows, elem.cols]
    if isinstance(elem, Buffer):
        return list(elem.shape) + _elem_dims(elem.elem)
    if isinstance(elem, TupleT):
        return [d for t in elem.items for d in _elem_dims(t)]
    return []


class Stream:
    """A stream handle: element type `elem` and symbolic `shape` (outermost first)."""

    __slots__ = ("graph", "port", "type")

    def __init__(self, graph: Graph, port: Port, type: StreamType) -> None:
        self.graph, self.port, self.type = graph, port, type

    @property
    def elem(self) -> ElemType:
        return self.type.elem

    dtype = elem

    @property
    def shape(self) -> tuple[Expr, ...]:
        return self.type.shape

    @property
    def rank(self) -> int:
        return self.type.rank

    def __repr__(self) -> str:
        return f"<{self.type} from {self.graph.nodes[self.port.node].op}>"


class Tensor:
    """An off-chip tensor of the task (what `kernel` receives for each input)."""

    __slots__ = ("graph", "decl")

    def __init__(self, graph: Graph, decl: TensorDecl) -> None:
        self.graph, self.decl = graph, decl

    name = property(lambda self: self.decl.name)
    dtype = property(lambda self: self.decl.dtype)
    shape = property(lambda self: self.decl.shape)

    def __repr__(self) -> str:
        return f"<tensor {self.name}: {self.dtype}[{', '.join(map(str, self.shape))}]>"


class Store:
    """The result of a store op (a sink); the kernel returns these."""

    __slots__ = ("node", "tensor")

    def __init__(self, node: Node, tensor: str) -> None:
        self.node, self.tensor = node, tensor

    def __repr__(self) -> str:
        return f"<store to {self.tensor}>"


_HANDLES = (Stream, Tensor)  # a tuple: `Stream | Tensor` would build a union per call


def _graph_of(op: str, *candidates: object) -> Graph:
    for c in candidates:
        if isinstance(c, _HANDLES):
            return c.graph
        if isinstance(c, list | tuple):
            for item in c:
                if isinstance(item, _HANDLES):
                    return item.graph
    raise ProgramError(f"{op}: needs a stream or a task tensor as input", line=_user_line())


def _tensor_name(op: str, tensor: object) -> str:
    if isinstance(tensor, Tensor):
        return tensor.name
    if isinstance(tensor, str):
        return tensor
    raise ProgramError(
        f"{op}: tensor must be a task tensor or an output name, got {type(tensor).__name__}",
        line=_user_line(),
    )


def _streams(op: str, x: object) -> list[Stream]:
    if isinstance(x, Stream):
        return [x]
    if isinstance(x, list | tuple) and x:
        return list(x)
    raise ProgramError(
        f"{op}: expected a stream or a list of streams, got {x!r}", line=_user_line()
    )


# --- off-chip memory ---------------------------------------------------------------------
def linear_offchip_load(
    tensor: Tensor,
    tile: tuple[int, int],
    *,
    ref: Stream | None = None,
    shape: Sequence | None = None,
    stride: Sequence | None = None,
    base: int | Expr = 0,
) -> Stream:
    g = _graph_of("linear_offchip_load", tensor, ref)
    return g.add(
        "linear_offchip_load",
        [ref] if ref is not None else [],
        tensor=_tensor_name("linear_offchip_load", tensor),
        tile=tile,
        shape=shape,
        stride=stride,
        base=base,
    )[0]


def linear_offchip_store(
    x: Stream, tensor: str, *, stride: Sequence | None = None, base: int | Expr = 0
) -> Store:
    g = _graph_of("linear_offchip_store", x)
    name = _tensor_name("linear_offchip_store", tensor)
    g.add("linear_offchip_store", [x], tensor=name, stride=stride, base=base)
    return Store(g.nodes[-1], name)


def random_offchip_load(tensor: Tensor, addr: Stream, tile: tuple[int, int]) -> Stream:
    g = _graph_of("random_offchip_load", tensor, addr)
    return g.add(
        "random_offchip_load", [addr], tensor=_tensor_name("random_offchip_load", tensor), tile=tile
    )[0]


def random_offchip_store(x: Stream, addr: Stream, tensor: str) -> Store:
    g = _graph_of("random_offchip_store", x)
    name = _tensor_name("random_offchip_store", tensor)
    g.add("random_offchip_store", [x, addr], tensor=name)
    return Store(g.nodes[-1], name)


# --- on-chip memory ------------------------------------------------------------------------
def bufferize(x: Stream, rank: int) -> Stream:
    return _graph_of("bufferize", x).add("bufferize", [x], rank=rank)[0]


def streamify(
    buf: Stream, *, shape: Sequence | None = None, stride: Sequence | None = None
) -> Stream:
    return _graph_of("streamify", buf).add("streamify", [buf], shape=shape, stride=stride)[0]


# --- dynamic routing -----------------------------------------------------------------------
def partition(x: Stream, sel: Stream, num_consumers: int, *, rank: int = 0) -> list[Stream]:
    return _graph_of("partition", x).add(
        "partition", [x, sel], num_consumers=num_consumers, rank=rank
    )


def reassemble(xs: Sequence[Stream], sel: Stream, *, rank: int = 0) -> Stream:
    ins = _streams("reassemble", xs) + [sel]
    return _graph_of("reassemble", ins).add("reassemble", ins, rank=rank)[0]


def eager_merge(xs: Sequence[Stream], *, rank: int = 0) -> tuple[Stream, Stream]:
    ins = _streams("eager_merge", xs)
    data, sel = _graph_of("eager_merge", ins).add("eager_merge", ins, rank=rank)
    return data, sel


def dispatch(
    xs: Stream | Sequence[Stream], num_consumers: int, *, rank: int = 0
) -> list[Stream] | list[list[Stream]]:
    """Per region, its stream (one input) or its list of streams (several inputs, routed
    chunk by chunk together); close the loop with `free_signal(signals, of=<this result>)`."""
    ins = _streams("dispatch", xs)
    outs = _graph_of("dispatch", ins).add("dispatch", ins, num_consumers=num_consumers, rank=rank)
    if isinstance(xs, Stream):
        return outs
    return [outs[i : i + len(ins)] for i in builtins.range(0, len(outs), len(ins))]


def free_signal(signals: Sequence[Stream], of: object) -> None:
    """Region i's free signal is `signals[i]`; `of` is what `dispatch` returned."""
    first = of
    while isinstance(first, list | tuple) and first:
        first = first[0]
    if not isinstance(first, Stream) or first.graph.nodes[first.port.node].op != "dispatch":
        raise ProgramError(
            "free_signal: `of` must be what step.dispatch returned", line=_user_line()
        )
    ins = _streams("free_signal", signals)
    g = _graph_of("free_signal", ins)
    if first.graph is not g:
        raise ProgramError("free_signal: `of` belongs to another trace", line=_user_line())
    g.add("free_signal", ins, dispatch=first.port.node)
    error = feedback_error(g.nodes, complete=False)
    if error:
        raise ProgramError(error, line=_user_line())


# --- higher-order ----------------------------------------------------------------------------
def map(x: Stream | Sequence[Stream], fn: str | FnRef, *, compute: int = 1) -> Stream:
    ins = _streams("map", x)
    return _graph_of("map", ins).add("map", ins, fn=fn, compute=compute)[0]


def accum(x: Stream | Sequence[Stream], fn: str | FnRef, rank: int, *, compute: int = 1) -> Stream:
    ins = _streams("accum", x)
    return _graph_of("accum", ins).add("accum", ins, fn=fn, rank=rank, compute=compute)[0]


def scan(x: Stream | Sequence[Stream], fn: str | FnRef, rank: int, *, compute: int = 1) -> Stream:
    ins = _streams("scan", x)
    return _graph_of("scan", ins).add("scan", ins, fn=fn, rank=rank, compute=compute)[0]


def flat_map(x: Stream | Sequence[Stream], fn: str | FnRef, *, compute: int = 1) -> Stream:
    ins = _streams("flat_map", x)
    return _graph_of("flat_map", ins).add("flat_map", ins, fn=fn, compute=compute)[0]


# --- shape ops -------------------------------------------------------------------------------
def flatten(x: Stream, min_dim: int = 0, max_dim: int = 1) -> Stream:
    return _graph_of("flatten", x).add("flatten", [x], min_dim=min_dim, max_dim=max_dim)[0]


def reshape(
    x: Stream, chunk: int, *, dim: int = 0, pad: bool = False
) -> Stream | tuple[Stream, Stream]:
    """Chunks of `chunk` elements; with pad=True returns (padded data, padding flags)."""
    out = _graph_of("reshape", x).add("reshape", [x], chunk=chunk, dim=dim, pad=pad)
    return (out[0], out[1]) if pad else out[0]


def promote(x: Stream, dim: int | None = None) -> Stream:
    return _graph_of("promote", x).add("promote", [x], dim=dim)[0]


def expand(x: Stream, ref: Stream) -> Stream:
    return _graph_of("expand", x).add("expand", [x, ref])[0]


def repeat(x: Stream, count: int | str | Expr) -> Stream:
    return _graph_of("repeat", x).add("repeat", [x], count=count)[0]


def zip(*xs: Stream) -> Stream:
    return _graph_of("zip", xs).add("zip", list(xs))[0]


def copy(x: Stream, n: int = 2) -> list[Stream]:
    return _graph_of("copy", x).add("copy", [x], n=n)


def sink(x: Stream) -> None:
    """Discard x (streams must be consumed; this is how a program says it needs none)."""
    _graph_of("sink", x).add("sink", [x])


def assume_shape(x: Stream, shape: Sequence) -> Stream:
    return _graph_of("assume_shape", x).add("assume_shape", [x], shape=shape)[0]


def unconsumed(graph: Graph) -> list[str]:
    """Labels of every stream no op consumed (each is a program error)."""
    if len(graph.consumed) == sum(len(node.outputs) for node in graph.nodes):
        return []  # each consumed port is a real output, so none is left
    out = []
    for node in graph.nodes:
        for i in builtins.range(len(node.outputs)):
            if (node.id, i) not in graph.consumed:
                out.append(f"output {i} of {node.label()}")
    return out
