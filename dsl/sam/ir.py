"""The SAM IR: tensors plus a sequence of graphs of primitive nodes, and its JSON form.

The nodes and ports are the shared IR's (`dsl.core.ir`), so the shared pass walker runs a
graph; a port also keeps the name its primitive gives it, which is how the JSON form and
the messages name it. The program opens its JSON with the shared header (`ProgramBase`).
`load_ir` is the gate for untrusted IR from the sandbox: it re-derives every stream kind
from `dsl.sam.primitives` and checks the wiring, the tensors and the graph order, raising
`ValidationError` with a one-line message naming the node, its op and the port.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from dsl.core import ir as core
from dsl.core.errors import RuleError
from dsl.errors import ValidationError
from dsl.sam.formats import FormatError, normalize
from dsl.sam.primitives import SAM, type_node

MAX_BLOCK = 64  # largest b x b value block (Comal's block modes are 16, 32 and 64)
MAX_RANK = 8  # deepest fibertree
MAX_DIM = 1 << 24  # largest size a program may give a tensor mode by number
MAX_NODE_ID = (1 << 31) - 1
ROLES = ("input", "output", "intermediate")
READS = ("scan", "locate", "load", "scan_bv")
WRITES = ("write_level", "write_vals")


@dataclass(frozen=True)
class TensorDecl:
    """A tensor the program touches. `shape` entries are dim names or ints."""

    name: str
    role: str
    shape: tuple[str | int, ...]
    levels: tuple[str, ...]
    mode_order: tuple[int, ...]
    block: int = 1

    @property
    def rank(self) -> int:
        return len(self.shape)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "shape": list(self.shape),
            "format": list(self.levels),
            "mode_order": list(self.mode_order),
            "block": self.block,
        }


@dataclass(frozen=True)
class Port(core.Port):
    """Output `index` of node `node`, which the primitive calls `name`: the JSON form and
    the messages name a port by node and name (`[3, "crd"]`), the pass walker by index."""

    name: str = ""


@dataclass(frozen=True)
class Node(core.Node):
    """One primitive instance as a node of the shared IR (`dsl.core.ir.Node`), so the
    shared pass walker runs it: `inputs` are ports of earlier nodes in port order,
    `outputs` its (port name, stream kind) pairs."""

    inputs: tuple[Port, ...]
    outputs: tuple[tuple[str, str], ...] = ()

    def label(self) -> str:
        return f"node {self.id} ({self.op})"

    def ports(self) -> tuple[Port, ...]:
        return self._ports

    @cached_property
    def _ports(self) -> tuple[Port, ...]:  # built once: the walker asks for them per node
        return tuple(Port(self.id, i, name) for i, (name, _) in enumerate(self.outputs))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "op": self.op,
            "attrs": dict(self.attrs),
            "inputs": [[p.node, p.name] for p in self.inputs],
        }


@dataclass(frozen=True)
class Graph:
    """Nodes in a topological order (every input comes from an earlier node)."""

    name: str
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Program(core.ProgramBase):
    """Graphs run one after another; intermediates carry data between them."""

    DIALECT = "sam"
    VERSION = 1  # what `load_ir` reads; bump when the wire form changes

    tensors: dict[str, TensorDecl]
    graphs: tuple[Graph, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.header(),
            "tensors": [t.to_json() for t in self.tensors.values()],
            "graphs": [
                {"name": g.name, "nodes": [n.to_json() for n in g.nodes]} for g in self.graphs
            ],
        }


def make_tensor(
    name: str, role: str, shape: Any, fmt: Any, mode_order: Any, block: Any
) -> TensorDecl:
    """Build a checked `TensorDecl`; raises `FormatError` (a ValueError) with the reason."""
    if not isinstance(name, str) or not name.isidentifier():
        raise FormatError(f"tensor name must be an identifier, got {name!r}")
    if role not in ROLES:
        raise FormatError(f"tensor {name!r}: role must be one of {', '.join(ROLES)}")
    if not isinstance(shape, list | tuple):
        raise FormatError(f"tensor {name!r}: shape must be a list, got {shape!r}")
    if len(shape) > MAX_RANK:
        raise FormatError(f"tensor {name!r}: rank {len(shape)} is above the maximum {MAX_RANK}")
    for d in shape:
        if isinstance(d, bool) or not (
            isinstance(d, str) and d.isidentifier() or isinstance(d, int) and 0 < d <= MAX_DIM
        ):
            raise FormatError(
                f"tensor {name!r}: shape entries are dim names or ints in 1..{MAX_DIM}, got {d!r}"
            )
    try:
        levels, order = normalize(fmt, len(shape), mode_order)
    except FormatError as exc:
        raise FormatError(f"tensor {name!r}: {exc}") from None
    if isinstance(block, bool) or not isinstance(block, int) or not 1 <= block <= MAX_BLOCK:
        raise FormatError(f"tensor {name!r}: block must be an int in 1..{MAX_BLOCK}, got {block!r}")
    if block > 1 and len(shape) != 2:
        raise FormatError(f"tensor {name!r}: block values need a matrix, rank is {len(shape)}")
    return TensorDecl(name, role, tuple(shape), levels, order, block)


def _fail(where: str, message: str) -> ValidationError:
    return ValidationError(f"{where}: {message}")


def _load_tensors(raw: Any) -> dict[str, TensorDecl]:
    if not isinstance(raw, list):
        raise ValidationError("IR 'tensors' must be a list")
    tensors: dict[str, TensorDecl] = {}
    for k, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise ValidationError(f"tensor #{k}: must be an object")
        name = entry.get("name", f"#{k}")
        unknown = set(entry) - {"name", "role", "shape", "format", "mode_order", "block"}
        if unknown:
            raise ValidationError(f"tensor {name!r}: unknown keys {sorted(unknown)}")
        try:
            t = make_tensor(
                entry.get("name"),
                entry.get("role"),
                entry.get("shape"),
                entry.get("format"),
                entry.get("mode_order"),
                entry.get("block", 1),
            )
        except FormatError as exc:
            raise ValidationError(str(exc)) from None
        if t.name in tensors:
            raise ValidationError(f"tensor {t.name!r} declared twice")
        tensors[t.name] = t
    return tensors


def _load_node(entry: Any, where: str) -> tuple[int, str, dict, list[tuple[int, str]]]:
    """A node entry's id, op, attrs and inputs as (node id, port name) pairs, each checked
    for its type."""
    if not isinstance(entry, dict):
        raise _fail(where, "node must be an object")
    unknown = set(entry) - {"id", "op", "attrs", "inputs"}
    if unknown:
        raise _fail(where, f"unknown keys {sorted(unknown)}")
    nid, op, attrs, inputs = (entry.get(k) for k in ("id", "op", "attrs", "inputs"))
    if isinstance(nid, bool) or not isinstance(nid, int) or not 0 <= nid <= MAX_NODE_ID:
        raise _fail(where, f"node id must be an int in 0..{MAX_NODE_ID}, got {nid!r}")
    where = f"node {nid} ({op})"
    if not isinstance(op, str) or op not in SAM:
        raise _fail(where, f"unknown primitive {op!r}; known: {', '.join(sorted(SAM))}")
    if not isinstance(attrs, dict) or not all(isinstance(k, str) for k in attrs):
        raise _fail(where, "attrs must be an object")
    if not isinstance(inputs, list):
        raise _fail(where, "inputs must be a list of [node id, port] pairs")
    pairs = []
    for item in inputs:
        if (
            not isinstance(item, list | tuple)
            or len(item) != 2
            or isinstance(item[0], bool)
            or not isinstance(item[0], int)
            or not isinstance(item[1], str)
        ):
            raise _fail(where, f"input {item!r} is not a [node id, port] pair")
        pairs.append((item[0], item[1]))
    return nid, op, dict(attrs), pairs


def check_tensor_use(
    node: Node, tensors: dict[str, TensorDecl], graph_index: int, written_in: dict[str, int]
) -> None:
    name = node.attrs.get("tensor")
    if name is None:
        return
    t = tensors.get(name)
    if t is None:
        raise _fail(node.label(), f"unknown tensor {name!r}")
    if "level" in node.attrs and not 0 <= node.attrs["level"] < t.rank:
        raise _fail(
            node.label(), f"level {node.attrs['level']} out of range for {name!r} (rank {t.rank})"
        )
    if node.op in READS:
        if t.role == "output":
            raise _fail(
                node.label(),
                f"cannot read output tensor {name!r}; write it to an intermediate to read it back",
            )
        if t.role == "intermediate" and written_in.get(name, graph_index) >= graph_index:
            raise _fail(
                node.label(), f"intermediate {name!r} is read before an earlier graph wrote it"
            )
    elif node.op in WRITES and t.role == "input":
        raise _fail(node.label(), f"cannot write input tensor {name!r}")


def load_ir(ir: Any) -> Program:
    """Parse and validate untrusted IR into a `Program` (raises `ValidationError`)."""
    Program.check_header(ir, keys=("tensors", "graphs"))
    tensors = _load_tensors(ir.get("tensors"))
    raw_graphs = ir.get("graphs")
    if not isinstance(raw_graphs, list) or not raw_graphs:
        raise ValidationError("IR 'graphs' must be a non-empty list")
    ids: set[int] = set()
    graphs: list[Graph] = []
    written_in: dict[str, int] = {}
    writes: dict[tuple[str, str], str] = {}
    for gi, g in enumerate(raw_graphs):
        if not isinstance(g, dict) or not isinstance(g.get("nodes"), list):
            raise ValidationError(f"graph #{gi}: must be an object with a 'nodes' list")
        gname = g.get("name", f"g{gi}")
        if not isinstance(gname, str) or not gname.isidentifier():  # it reaches the feedback
            raise ValidationError(f"graph #{gi}: name must be an identifier, got {gname!r:.40}")
        ports: dict[int, dict[str, Port]] = {}  # every earlier node's output ports, by name
        kinds: dict[Port, str] = {}
        consumed: dict[tuple[int, str], int] = {}
        nodes: list[Node] = []
        for k, raw in enumerate(g["nodes"]):
            nid, op, attrs, pairs = _load_node(raw, f"graph {gname!r} node #{k}")
            where = f"node {nid} ({op})"
            if nid in ids:
                raise _fail(where, "duplicate node id")
            ids.add(nid)
            inputs = []
            for pid, name in pairs:
                if pid not in ports:
                    raise _fail(
                        where,
                        f"input from node {pid}, which is not an earlier node of graph {gname!r}",
                    )
                if name not in ports[pid]:
                    raise _fail(
                        where,
                        f"node {pid} has no output port {name!r}"
                        f" (it has {', '.join(ports[pid]) or 'none'})",
                    )
                if (pid, name) in consumed:
                    raise _fail(
                        where,
                        f"stream {pid}.{name} is already consumed by node"
                        f" {consumed[(pid, name)]}; fan out with broadcast",
                    )
                consumed[(pid, name)] = nid
                inputs.append(ports[pid][name])
            try:
                outs = type_node(op, attrs, tuple(kinds[p] for p in inputs))
            except RuleError as exc:
                raise _fail(f"{where} port {exc.port}", exc.reason) from None
            node = Node(nid, op, tuple(inputs), attrs, outs)
            check_tensor_use(node, tensors, gi, written_in)
            if node.op in WRITES:
                t = node.attrs["tensor"]
                key = (t, str(node.attrs.get("level", "vals")))
                if key in writes:
                    raise _fail(where, f"{t!r} {key[1]} is written twice")
                writes[key] = gname
                if written_in.setdefault(t, gi) != gi:
                    raise _fail(where, f"tensor {t!r} is written by two graphs")
            ports[nid] = {p.name: p for p in node.ports()}
            kinds.update(zip(node.ports(), (kind for _, kind in outs), strict=True))
            nodes.append(node)
        graphs.append(Graph(str(gname), tuple(nodes)))
    for t in tensors.values():
        if t.role == "input":
            continue
        missing = [str(lv) for lv in range(t.rank) if (t.name, str(lv)) not in writes]
        if (t.name, "vals") not in writes:
            missing.append("vals")
        if missing and (t.role == "output" or t.name in written_in):
            raise ValidationError(f"tensor {t.name!r}: no writer for level(s) {', '.join(missing)}")
    return Program(tensors, tuple(graphs))
