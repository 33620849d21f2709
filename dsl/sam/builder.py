"""The surface agents write: typed stream handles and one builder call per primitive.

Every call checks its arguments at once (stream kinds, consumed-once, graph membership,
tensor roles) and raises `ProgramError` naming the primitive and port, so mistakes surface
at the line that made them. `trace` runs a kernel and returns the IR as a JSON-able dict.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

from dsl.core.params import IR_KEY as TUNABLE_KEY
from dsl.core.params import bind as bind_params
from dsl.errors import ProgramError, RuleError, ValidationError
from dsl.sam.formats import FormatError
from dsl.sam.ir import (
    READS,
    Graph,
    Node,
    Port,
    Program,
    TensorDecl,
    check_tensor_use,
    load_ir,
    make_tensor,
)
from dsl.sam.primitives import type_node

_ACTIVE: contextvars.ContextVar[_Builder | None] = contextvars.ContextVar(
    "sam_builder", default=None
)


class Stream:
    """One output port of one node (`at`, its port in the IR): consumed by exactly one
    input (fan out: `broadcast`)."""

    __slots__ = ("_builder", "at", "kind", "graph")

    def __init__(self, builder: _Builder, at: Port, kind: str, graph: int) -> None:
        self._builder, self.at, self.kind, self.graph = builder, at, kind, graph

    node = property(lambda self: self.at.node)
    port = property(lambda self: self.at.name)

    def __repr__(self) -> str:
        return f"<{self.kind} stream {self.node}.{self.port}>"


class Tensor:
    """A tensor handle: an input of the task, an output, or an intermediate."""

    def __init__(self, builder: _Builder, name: str) -> None:
        self._builder, self.name = builder, name

    @property
    def decl(self) -> TensorDecl:
        return self._builder.tensors[self.name]

    shape = property(lambda self: self.decl.shape)
    format = property(lambda self: self.decl.levels)
    mode_order = property(lambda self: self.decl.mode_order)
    block = property(lambda self: self.decl.block)
    rank = property(lambda self: self.decl.rank)

    def __repr__(self) -> str:
        d = self.decl
        return (
            f"<{d.role} tensor {d.name} shape={list(d.shape)} format={list(d.levels)}"
            f" mode_order={list(d.mode_order)} block={d.block}>"
        )

    def with_layout(
        self, format: Any = None, mode_order: Any = None, block: int | None = None
    ) -> Tensor:
        """Store this input in another layout (prepared offline, as FuseFlow's inputs are).

        Allowed only before the tensor is read; returns the same handle for chaining.
        """
        d = self.decl
        if d.role != "input":
            raise ProgramError(
                f"with_layout: {d.name!r} is an {d.role}; declare its layout where it is created"
            )
        if d.name in self._builder.read_tensors:
            raise ProgramError(f"with_layout: {d.name!r} was already read with its old layout")
        fmt = list(d.levels) if format is None else format
        order = (
            (list(d.mode_order) if format is None else None) if mode_order is None else mode_order
        )
        self._builder.tensors[d.name] = _tensor(
            d.name, "input", d.shape, fmt, order, d.block if block is None else block
        )
        return self

    def scan(self, level: int, ref: Stream | None = None) -> tuple[Stream, Stream]:
        return scan(self, level, ref)

    def locate(self, level: int, crd: Stream, ref: Stream) -> tuple[Stream, Stream]:
        return locate(self, level, crd, ref)

    def load(self, ref: Stream) -> Stream:
        return load(self, ref)

    def write_level(self, level: int, crd: Stream) -> None:
        write_level(self, level, crd)

    def write_vals(self, val: Stream) -> None:
        write_vals(self, val)


def _tensor(name: str, role: str, shape: Any, fmt: Any, order: Any, block: Any) -> TensorDecl:
    try:
        return make_tensor(name, role, shape, fmt, order, block)
    except FormatError as exc:
        raise ProgramError(str(exc)) from None


class _Builder:
    """Collects the nodes of one traced program."""

    def __init__(self, signature: dict) -> None:
        self.tensors: dict[str, TensorDecl] = {}
        self.output_shapes: dict[str, tuple] = {}
        self.graphs: list[tuple[str, list[Node]]] = []
        self.current: int | None = None
        self.next_id = 0
        self.consumed: dict[tuple[int, str], int] = {}
        self.read_tensors: set[str] = set()
        for entry in signature.get("inputs", []):
            self.tensors[entry["name"]] = _tensor(
                entry["name"],
                "input",
                entry["shape"],
                entry.get("format", "dense"),
                entry.get("mode_order"),
                entry.get("block", 1),
            )
        for entry in signature.get("outputs", []):
            self.output_shapes[entry["name"]] = tuple(entry["shape"])

    def graph_index(self) -> int:
        if self.current is None:
            self.graphs.append((f"g{len(self.graphs)}", []))
            self.current = len(self.graphs) - 1
        return self.current

    def node(self, op: str, attrs: dict, inputs: list[Stream]) -> tuple[Stream, ...]:
        attrs = {k: v for k, v in attrs.items() if v is not None}
        for k, s in enumerate(inputs):
            if not isinstance(s, Stream):
                raise ProgramError(f"{op}: input #{k} must be a stream, got {type(s).__name__}")
            if s._builder is not self:
                raise ProgramError(f"{op}: input #{k} comes from another trace")
        gi = self.graph_index()
        for s in inputs:
            if s.graph != gi:
                raise ProgramError(
                    f"{op}: {s!r} belongs to graph {self.graphs[s.graph][0]!r}; streams cannot"
                    " cross graphs (write an intermediate tensor and scan it)"
                )
            if (s.node, s.port) in self.consumed:
                raise ProgramError(
                    f"{op}: {s!r} was already consumed by node"
                    f" {self.consumed[(s.node, s.port)]}; streams are consumed"
                    " once, fan out with sam.broadcast"
                )
        try:
            outs = type_node(op, attrs, tuple(s.kind for s in inputs))
        except RuleError as exc:
            raise ProgramError(f"{op}: port {exc.port}: {exc.reason}") from None
        node = Node(self.next_id, op, tuple(s.at for s in inputs), attrs, outs)
        written = {
            n.attrs["tensor"]: i
            for i, (_, ns) in enumerate(self.graphs)
            for n in ns
            if n.op in ("write_level", "write_vals")
        }
        try:
            check_tensor_use(node, self.tensors, gi, written)
        except ValidationError as exc:
            raise ProgramError(str(exc).replace(node.label(), op, 1)) from None
        if op in READS:
            self.read_tensors.add(attrs["tensor"])
        for s in inputs:
            self.consumed[(s.node, s.port)] = node.id
        self.next_id += 1
        self.graphs[gi][1].append(node)
        return tuple(
            Stream(self, p, kind, gi) for p, (_, kind) in zip(node.ports(), outs, strict=True)
        )

    def to_ir(self) -> dict:
        graphs = tuple((name, nodes) for name, nodes in self.graphs if nodes)
        program = Program(dict(self.tensors), tuple(Graph(n, tuple(ns)) for n, ns in graphs))
        return program.to_json()


def _builder() -> _Builder:
    b = _ACTIVE.get()
    if b is None:
        raise ProgramError("sam builder functions work only inside a traced kernel")
    return b


def _name(t: Any, op: str) -> str:
    if not isinstance(t, Tensor):
        raise ProgramError(f"{op}: expected a tensor handle, got {type(t).__name__}")
    return t.name


def _level(level: Any, op: str) -> int:
    if isinstance(level, bool) or not isinstance(level, int):
        raise ProgramError(f"{op}: level must be an int, got {level!r}")
    return level


# -- tensors and graphs ---------------------------------------------------------------------


def output(name: str, format: Any, mode_order: Any = None, block: int = 1) -> Tensor:
    """The task output `name`, stored in `format`; write every level and its values."""
    b = _builder()
    if name not in b.output_shapes:
        raise ProgramError(
            f"output: the task has no output {name!r}; outputs:"
            f" {', '.join(b.output_shapes) or 'none'}"
        )
    if name in b.tensors:
        raise ProgramError(f"output: {name!r} is already declared")
    b.tensors[name] = _tensor(name, "output", b.output_shapes[name], format, mode_order, block)
    return Tensor(b, name)


def tensor(name: str, shape: Any, format: Any, mode_order: Any = None, block: int = 1) -> Tensor:
    """An intermediate tensor: written by one graph's writers, scanned by later graphs."""
    b = _builder()
    if name in b.tensors or name in b.output_shapes:
        raise ProgramError(f"tensor: the name {name!r} is already used")
    b.tensors[name] = _tensor(name, "intermediate", list(shape), format, mode_order, block)
    return Tensor(b, name)


@contextlib.contextmanager
def graph(name: str) -> Iterator[None]:
    """Nodes made inside the block form one graph; graphs run in program order."""
    b = _builder()
    if not isinstance(name, str) or not name.isidentifier():
        raise ProgramError(f"graph: name must be an identifier, got {name!r:.40}")
    if any(n == name for n, _ in b.graphs):
        raise ProgramError(f"graph: a graph named {name!r} already exists")
    b.graphs.append((name, []))
    b.current = len(b.graphs) - 1
    try:
        yield
    finally:
        b.current = None


# -- primitives -----------------------------------------------------------------------------


def root() -> Stream:
    """The reference stream [0, D] that starts a walk from a tensor's root."""
    return _builder().node("root", {}, [])[0]


def scan(t: Tensor, level: int, ref: Stream | None = None) -> tuple[Stream, Stream]:
    """Level scanner over storage level `level` of `t`: (crd, ref). Level 0 defaults to root."""
    name, level = _name(t, "scan"), _level(level, "scan")
    if ref is None:
        if level != 0:
            raise ProgramError(f"scan: level {level} of {name!r} needs the parent ref stream")
        ref = root()
    return _builder().node("scan", {"tensor": name, "level": level}, [ref])  # type: ignore


def locate(t: Tensor, level: int, crd: Stream, ref: Stream) -> tuple[Stream, Stream]:
    """Find the coordinates `crd` in `t`'s level under the parent refs `ref`: (crd, ref)."""
    name, level = _name(t, "locate"), _level(level, "locate")
    return _builder().node("locate", {"tensor": name, "level": level}, [crd, ref])  # type: ignore


def load(t: Tensor, ref: Stream) -> Stream:
    """Value load: each ref becomes vals[ref]; Empty becomes 0."""
    return _builder().node("load", {"tensor": _name(t, "load")}, [ref])[0]


def repeat_signal(crd: Stream) -> Stream:
    """R per coordinate, S per stop, D at the end."""
    return _builder().node("repeat_signal", {}, [crd])[0]


def repeat(stream: Stream, repsig: Stream) -> Stream:
    """Re-emit each outer ref (or value) once per R of its repeat-signal fiber."""
    return _builder().node("repeat", {}, [stream, repsig])[0]


def _joiner(op: str, pairs: tuple) -> tuple[Stream, ...]:
    if len(pairs) < 2:
        raise ProgramError(f"{op}: needs at least two (crd, payload) pairs, got {len(pairs)}")
    flat: list[Stream] = []
    for k, pair in enumerate(pairs):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ProgramError(f"{op}: argument #{k} must be a (crd, payload) pair")
        flat += list(pair)
    return _builder().node(op, {"n": len(pairs)}, flat)


def intersect(*pairs: tuple[Stream, Stream]) -> tuple[Stream, ...]:
    """Coordinates present in every input: (crd, payload0, payload1, ...)."""
    return _joiner("intersect", pairs)


def union(*pairs: tuple[Stream, Stream]) -> tuple[Stream, ...]:
    """Coordinates present in any input; a missing payload is Empty: (crd, payload0, ...)."""
    return _joiner("union", pairs)


def alu(op: str, a: Stream, b: Stream | None = None, scalar: float | None = None) -> Stream:
    """Elementwise op on one or two aligned value streams (see REFERENCE.md for the ops)."""
    inputs = [a] if b is None else [a, b]
    if scalar is not None and (isinstance(scalar, bool) or not isinstance(scalar, int | float)):
        raise ProgramError(f"alu: scalar must be a number, got {scalar!r}")
    return _builder().node(
        "alu", {"op": op, "scalar": None if scalar is None else float(scalar)}, inputs
    )[0]


def reduce(val: Stream, op: str = "add") -> Stream:
    """One value per innermost fiber; lowers every stop by one level."""
    return _builder().node("reduce", {"op": op}, [val])[0]


def spacc1(crd: Stream, val: Stream) -> tuple[Stream, Stream]:
    """Sparse accumulator of order 1: sums values by inner coordinate over one outer level."""
    return _builder().node("spacc", {"order": 1}, [crd, val])  # type: ignore


def spacc2(outer: Stream, crd: Stream, val: Stream) -> tuple[Stream, Stream, Stream]:
    """Order 2: sums values by (outer, inner) coordinate pair over one outer level."""
    return _builder().node("spacc", {"order": 2}, [outer, crd, val])  # type: ignore


def crd_drop(outer: Stream, inner: Stream) -> tuple[Stream, Stream]:
    """Drop outer coordinates whose inner fiber is empty: (outer, inner)."""
    return _builder().node("crd_drop", {}, [outer, inner])  # type: ignore


def crd_hold(outer: Stream, inner: Stream) -> tuple[Stream, Stream]:
    """Repeat each outer coordinate once per inner coordinate: (held outer, inner)."""
    return _builder().node("crd_hold", {}, [outer, inner])  # type: ignore


def val_drop(val: Stream, crd: Stream) -> tuple[Stream, Stream]:
    """Drop zero values together with their coordinates: (val, crd)."""
    return _builder().node("val_drop", {}, [val, crd])  # type: ignore


def stkn_drop(stream: Stream) -> Stream:
    """Drop every stop token: the data tokens (and N), then D."""
    return _builder().node("stkn_drop", {}, [stream])[0]


def empty_stkn_drop(stream: Stream) -> Stream:
    """Drop empty fibers: stops before the first data token go, and each run of stops
    becomes its highest one (SAM's `EmptyFiberStknDrop`)."""
    return _builder().node("empty_stkn_drop", {}, [stream])[0]


def split(crd: Stream, factor: int, original: bool = False) -> tuple[Stream, Stream]:
    """Tile a coordinate level by `factor`: (outer crd // factor, inner crd % factor, or
    the crd itself when `original`), the inner stream one level deeper."""
    attrs = {"factor": factor} | ({"original": True} if original else {})
    return _builder().node("split", attrs, [crd])  # type: ignore


def flatten(outer: Stream, inner: Stream, factor: int) -> Stream:
    """Undo `split`: each inner coordinate becomes outer * factor + inner, one level up."""
    return _builder().node("flatten", {"factor": factor}, [outer, inner])[0]


def crdpt_convert(outer: Stream, inner: Stream, last_level: bool = True) -> tuple[Stream, Stream]:
    """Coordinate points -> fibers (SAM's `CrdPtConverter`): each run of equal outer points
    becomes one outer coordinate owning an inner fiber of the run's inner points (or
    values): (outer, inner). `last_level=False` leaves the inner stream's last stop at the
    level of the stops between its fibers, as SAM's converter does when more levels follow."""
    attrs = {} if last_level is True else {"last_level": last_level}
    return _builder().node("crdpt_convert", attrs, [outer, inner])  # type: ignore


def crdpt_accumulate(outer: Stream, inner: Stream, val: Stream) -> tuple[Stream, Stream, Stream]:
    """Sum values by (outer, inner) point (SAM's `SparseCrdPtAccumulator`): the distinct
    points in (outer, inner) order with their sums, as point streams (no stops)."""
    return _builder().node("crdpt_accumulate", {}, [outer, inner, val])  # type: ignore


def bv(crd: Stream) -> Stream:
    """Bit vector (SAM's `BV`): each fiber's coordinates become one mask token (bit c for
    coordinate c, c <= 62), emitted before the fiber's stop."""
    return _builder().node("bv", {}, [crd])[0]


def bv_chunk(stream: Stream, width: int, size: int) -> Stream:
    """Cut each bit vector of `size` bits into ceil(size / width) chunks of `width` bits,
    lowest first (SAM's `ChunkBV`)."""
    return _builder().node("bv_chunk", {"width": width, "size": size}, [stream])[0]


def scan_bv(t: Tensor, level: int, ref: Stream) -> tuple[Stream, Stream]:
    """Bit-vector scan of level `level` of `t` (SAM's `BVRdScan`): per fiber, one mask of
    its coordinates (all < 63) and the ref of its first coordinate: (bv, ref)."""
    name, level = _name(t, "scan_bv"), _level(level, "scan_bv")
    return _builder().node("scan_bv", {"tensor": name, "level": level}, [ref])  # type: ignore


def bv_drop(outer: Stream, inner: Stream) -> tuple[Stream, Stream]:
    """SAM's `BVDrop`: clear the outer bits whose inner fiber is empty, then drop empty
    fibers from both bit-vector streams: (outer, inner)."""
    return _builder().node("bv_drop", {}, [outer, inner])  # type: ignore


def intersect_bv(
    bv1: Stream, ref1: Stream, bv2: Stream, ref2: Stream
) -> tuple[Stream, Stream, Stream]:
    """SAM's `IntersectBV2`: the AND of aligned bit vectors, and for each side the refs of
    the common bits (its base ref plus its bits below): (bv, ref1, ref2)."""
    return _builder().node("intersect_bv", {}, [bv1, ref1, bv2, ref2])  # type: ignore


def write_level(t: Tensor, level: int, crd: Stream) -> None:
    """Level writer: the crd stream becomes storage level `level` of `t`."""
    name, level = _name(t, "write_level"), _level(level, "write_level")
    _builder().node("write_level", {"tensor": name, "level": level}, [crd])


def write_vals(t: Tensor, val: Stream) -> None:
    """Value writer: the val stream (stops ignored) becomes the values of `t`."""
    _builder().node("write_vals", {"tensor": _name(t, "write_vals")}, [val])


def broadcast(stream: Stream, n: int = 2) -> tuple[Stream, ...]:
    """n identical copies of a stream."""
    return _builder().node("broadcast", {"n": n}, [stream])


def fork(stream: Stream, lanes: int) -> tuple[Stream, ...]:
    """Deal the data tokens of each fiber round-robin to `lanes` streams; stops go to all."""
    return _builder().node("fork", {"lanes": lanes}, [stream])


def join(order: Stream, lanes: list[Stream] | tuple[Stream, ...], depth: int = 0) -> Stream:
    """Merge lane streams in the order `fork` dealt `order` (a copy of the forked stream).

    `depth` is how many levels below the forked level the lane streams are.
    """
    if not isinstance(lanes, list | tuple):
        raise ProgramError("join: lanes must be a list of streams")
    return _builder().node("join", {"lanes": len(lanes), "depth": depth}, [order, *lanes])[0]


# -- tracing --------------------------------------------------------------------------------


def trace(kernel: Callable[..., Any], signature: dict) -> dict:
    """Run `kernel(**tensor handles, **params)` and return the checked IR dict."""
    b = _Builder(signature)
    token = _ACTIVE.set(b)
    try:
        handles = {name: Tensor(b, name) for name in list(b.tensors)}
        kwargs, tunable = bind_params(kernel, signature.get("params") or {})
        kernel(**handles, **kwargs)
    finally:
        _ACTIVE.reset(token)
    missing = [n for n in b.output_shapes if n not in b.tensors]
    if missing:
        raise ProgramError(
            f"output {missing[0]!r} was never declared: call"
            f" sam.output({missing[0]!r}, format=...) and write its levels"
            " and values"
        )
    ir = b.to_ir()
    if tunable is not None:
        ir[TUNABLE_KEY] = tunable
    try:
        load_ir(ir)
    except ValidationError as exc:
        raise ProgramError(str(exc)) from None
    return ir
