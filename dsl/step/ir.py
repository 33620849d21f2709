"""The STeP IR: frozen dataclasses and their JSON form.

Ports and nodes are the shared `dsl.core.ir` ones (a node's outputs are `StreamType`s).
A `Program` is a list of `Node`s in creation order (so every input refers to an earlier
node: the graph is acyclic by construction), the task's off-chip tensors, and the symbol
table of every symbolic dim used. Each node names an op of `dsl.step.ops.OPS`; attributes
hold only data (ints, shapes, tensor names, `FnRef`s naming library functions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from dsl.core.ir import Node, Port, ProgramBase
from dsl.step.functions import FnRef
from dsl.step.limits import MAX_RANK, check_tile
from dsl.step.ops import OPS, TensorDecl
from dsl.step.symbolic import Expr, expr_from_json
from dsl.step.types import StreamType, stream_from_json, stream_to_json

IR_VERSION = 1
__all__ = ["IR_VERSION", "Node", "Port", "Program"]


@dataclass(frozen=True)
class Program(ProgramBase):
    """A STeP program: its nodes, the task's tensors, symbols and symbolic dims."""

    DIALECT = "step"
    VERSION = IR_VERSION

    nodes: tuple[Node, ...]
    tensors: dict[str, TensorDecl] = field(hash=False)
    symbols: dict[str, str] = field(hash=False)  # name -> "dynamic" | "ragged"
    dims: tuple[str, ...] = ()  # the task's symbolic dims (values given at run time)

    def node(self, node_id: int) -> Node:
        return self.nodes[node_id]

    def consumers(self) -> dict[Port, tuple[Node, int]]:
        """Who reads each port: port -> (consumer node, input position)."""
        out: dict[Port, tuple[Node, int]] = {}
        for n in self.nodes:
            for pos, p in enumerate(n.inputs):
                out[p] = (n, pos)
        return out

    def to_json(self, types: bool = True) -> dict:
        """The JSON form `load_ir` reads. `types=False` leaves out each node's output
        types (`"out"`), which `load_ir` derives with the ops' rules whether or not they are
        declared (declared ones must equal the derived): what `trace` ships from the sandbox,
        since they were 61% of the bytes (a 2,060-node IR: 741 KB with them, 268 KB
        without) that the sandbox encodes and the trusted side parses."""
        return {
            **self.header(),
            "dims": list(self.dims),
            "symbols": dict(self.symbols),
            "tensors": [
                {
                    "name": t.name,
                    "dtype": t.dtype,
                    "role": t.role,
                    "shape": [d.to_json() for d in t.shape],
                }
                for t in self.tensors.values()
            ],
            "nodes": [node_to_json(n, types) for n in self.nodes],
        }


_PLAIN_KINDS = frozenset({"int", "pos_int", "nat", "bool", "float", "str", "tensor"})
"""Attribute kinds whose value is its own JSON (the most common ones: tested first)."""


def attr_to_json(kind: str, value: object) -> object:
    if value is None or kind in _PLAIN_KINDS:
        return value
    if kind == "dim":
        return value.to_json()
    if kind == "shape":
        return [d.to_json() for d in value]
    if kind == "tile":
        return list(value)
    if kind.startswith("fn:"):
        return value.to_json()
    return value


def attr_from_json(kind: str, value: object, symbols: dict[str, str]) -> object:
    """Parse one attribute of `kind` (see `dsl.step.ops`); ValueError when malformed."""
    if value is None:
        return None
    if kind in ("int", "pos_int", "nat"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, got {value!r}")
        if (kind == "pos_int" and value < 1) or (kind == "nat" and value < 0):
            raise ValueError(f"must be {'positive' if kind == 'pos_int' else '>= 0'}, got {value}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"must be finite, got {value!r}")
        return float(value)
    if kind in ("str", "tensor"):
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {value!r}")
        return value
    if kind == "tile":
        if (
            not isinstance(value, list | tuple)
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        ):
            raise ValueError(f"must be two positive ints [rows, cols], got {value!r}")
        check_tile(value[0], value[1])
        return (value[0], value[1])
    if kind == "dim":
        return expr_from_json(value, symbols)
    if kind == "shape":
        if not isinstance(value, list | tuple) or len(value) > MAX_RANK + 1:
            raise ValueError(f"must be a list of at most {MAX_RANK + 1} dims, got {value!r}")
        return tuple(expr_from_json(v, symbols) for v in value)
    if kind.startswith("fn:"):
        if (
            not isinstance(value, dict)
            or set(value) != {"fn", "args"}
            or not isinstance(value["fn"], str)
            or not isinstance(value["args"], dict)
        ):
            raise ValueError(f"must be {{'fn': name, 'args': {{...}}}}, got {value!r}")
        return FnRef(value["fn"], tuple(sorted(value["args"].items())))
    raise AssertionError(f"unknown attribute kind {kind}")


def node_to_json(n: Node, types: bool = True) -> dict:
    kinds = OPS[n.op].attrs
    out = {
        "id": n.id,
        "op": n.op,
        "in": [[p.node, p.index] for p in n.inputs],
        "attrs": {k: attr_to_json(kinds[k][0], v) for k, v in n.attrs.items()},
    }
    if types:
        out["out"] = [stream_to_json(t) for t in n.outputs]
    if n.line is not None:
        out["line"] = n.line
    return out


def tensor_from_json(data: object, symbols: dict[str, str]) -> TensorDecl:
    if not isinstance(data, dict) or set(data) != {"name", "dtype", "role", "shape"}:
        raise ValueError(f"malformed tensor entry {data!r}")
    if data["role"] not in ("input", "output") or not isinstance(data["name"], str):
        raise ValueError(f"malformed tensor entry {data!r}")
    if not isinstance(data["shape"], list) or not data["shape"]:
        raise ValueError(f"tensor {data['name']!r}: shape must be a non-empty list")
    return TensorDecl(
        data["name"],
        str(data["dtype"]),
        tuple(expr_from_json(d, symbols) for d in data["shape"]),
        data["role"],
    )


def stream_type_from_json(data: object, symbols: dict[str, str]) -> StreamType:
    return stream_from_json(data, symbols)


def dim_of(value: int | str, dims: dict[str, int | None]) -> Expr:
    """A signature dim: an int, a static task dim (its value) or a symbolic task dim."""
    if isinstance(value, str):
        if dims.get(value) is not None:
            return Expr.const(dims[value])
        return Expr.sym(value)
    return Expr.of(value)
