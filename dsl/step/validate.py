"""`load_ir`: parse and validate untrusted STeP IR (it comes back from the sandbox).

Every node's output types are re-derived with the op's rule and must equal the declared
ones; streams must be consumed exactly once; every task output must be stored. Errors are
`ValidationError`s naming the node, its op and the port.
"""

from __future__ import annotations

from functools import cache

from dsl.errors import ValidationError
from dsl.step.functions import FnTypeError, make_ref
from dsl.step.gc_pause import paused_gc
from dsl.step.ir import Node, Port, Program, attr_from_json, tensor_from_json
from dsl.step.limits import LimitError, check_attr
from dsl.step.ops import OPS, REQUIRED_ATTR, RuleEnv, RuleError, TensorDecl
from dsl.step.ops_routing import feedback_error
from dsl.step.symbolic import DYNAMIC, RAGGED
from dsl.step.types import (
    DTYPE_BYTES,
    check_stream,
    stream_to_json,
)

MAX_NODES = 20_000


@cache
def _arity(spec: str) -> tuple[int, int]:
    """(min, max) number of inputs of an op's input spec such as "x*,sel" or "ref?" (asked
    for every node loaded: parsed once per spec)."""
    if not spec:
        return 0, 0
    parts = spec.split(",")
    if any(p.endswith("*") for p in parts):
        return len(parts), 10**6
    if spec.endswith("?"):
        return 0, 1
    return len(parts), len(parts)


def _port_name(spec: str, pos: int, n_inputs: int) -> str:
    parts = spec.split(",")
    if parts[0].endswith("*"):
        return parts[1] if len(parts) > 1 and pos == n_inputs - 1 else f"x{pos}"
    return parts[min(pos, len(parts) - 1)].rstrip("?")


@paused_gc()
def load_ir(ir: object) -> Program:
    """Parse and validate IR produced by `trace`; raise `ValidationError` on any problem."""
    ir = Program.check_header(ir)
    symbols = ir.get("symbols", {})
    if not isinstance(symbols, dict) or not all(
        isinstance(k, str) and v in (DYNAMIC, RAGGED) for k, v in symbols.items()
    ):
        raise ValidationError("IR symbols must map names to 'dynamic' or 'ragged'")
    dims = ir.get("dims", [])
    if not isinstance(dims, list) or not all(isinstance(d, str) for d in dims):
        raise ValidationError("IR dims must be a list of names")
    tensors: dict[str, TensorDecl] = {}
    for entry in ir.get("tensors", []):
        try:
            t = tensor_from_json(entry, symbols)
        except ValueError as exc:
            raise ValidationError(f"tensors: {exc}") from None
        if t.dtype not in DTYPE_BYTES or t.name in tensors:
            raise ValidationError(f"tensor {t.name!r}: unknown dtype or duplicate name")
        tensors[t.name] = t
    raw_nodes = ir.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise ValidationError("IR has no nodes")
    if len(raw_nodes) > MAX_NODES:
        raise ValidationError(f"IR has {len(raw_nodes)} nodes (limit {MAX_NODES})")
    nodes: list[Node] = []
    for i, raw in enumerate(raw_nodes):
        nodes.append(_load_node(i, raw, nodes, tensors, symbols))
    program = Program(tuple(nodes), tensors, dict(symbols), tuple(dims))
    _check_affine(program)
    loop = feedback_error(program.nodes)
    if loop:
        raise ValidationError(loop)
    stored = {n.attrs["tensor"] for n in nodes if n.op.endswith("offchip_store")}
    for t in tensors.values():
        if t.role == "output" and t.name not in stored:
            raise ValidationError(f"output {t.name!r} is never stored")
    return program


def _load_node(
    i: int, raw: object, nodes: list[Node], tensors: dict[str, TensorDecl], symbols: dict[str, str]
) -> Node:
    if not isinstance(raw, dict) or raw.get("id") != i:
        raise ValidationError(f"node {i}: malformed or out of order")
    op = raw.get("op")
    where = f"node {i} ({op})"
    decl = OPS.get(op) if isinstance(op, str) else None
    if decl is None:
        raise ValidationError(f"{where}: unknown op; known: {', '.join(sorted(OPS))}")
    line = raw.get("line")
    if line is not None and not isinstance(line, int):
        raise ValidationError(f"{where}: line must be an int")
    if line:
        where = f"node {i} ({op}, line {line})"
    ins = raw.get("in", [])
    lo, hi = _arity(decl.inputs)
    if not isinstance(ins, list) or not lo <= len(ins) <= hi:
        raise ValidationError(f"{where}: takes {lo}..{hi} inputs")
    ports = []
    for pos, p in enumerate(ins):
        if (
            not isinstance(p, list)
            or len(p) != 2
            or not isinstance(p[0], int)
            or not isinstance(p[1], int)
            or not 0 <= p[0] < i
            or not 0 <= p[1] < len(nodes[p[0]].outputs)
        ):
            raise ValidationError(
                f"{where} input {_port_name(decl.inputs, pos, len(ins))!r}: "
                f"bad reference {p!r} (inputs must name earlier nodes)"
            )
        ports.append(Port(p[0], p[1]))
    raw_attrs = raw.get("attrs", {})
    if not isinstance(raw_attrs, dict) or raw_attrs.keys() - decl.attrs.keys():
        extra = sorted(raw_attrs.keys() - decl.attrs.keys()) if isinstance(raw_attrs, dict) else []
        raise ValidationError(f"{where}: unknown attribute(s) {extra}")
    attrs = {}
    for key, (kind, default) in decl.attrs.items():
        value = raw_attrs.get(key)
        try:
            if value is None:
                if default is REQUIRED_ATTR:
                    raise ValueError("missing")
                value = attr_from_json(kind, default, symbols) if kind == "dim" else default
            else:
                value = attr_from_json(kind, value, symbols)
            if kind.startswith("fn:"):
                value = make_ref(kind[3:], value)
            elif isinstance(value, int):  # check_attr passes every other value
                check_attr(op, key, value)
        except (ValueError, FnTypeError) as exc:
            raise ValidationError(f"{where}: attribute {key!r}: {exc}") from None
        attrs[key] = value
    in_types = [nodes[p.node].outputs[p.index] for p in ports]
    try:
        outputs = decl.rule(in_types, attrs, RuleEnv(tensors, i))
    except RuleError as exc:
        raise exc.located(ValidationError, where=where) from None
    for k, t in enumerate(outputs):
        try:
            check_stream(t)
        except LimitError as exc:
            raise ValidationError(f"{where}: output {k} ({t}): {exc}") from None
    declared = raw.get("out")
    if declared is not None and declared != [stream_to_json(t) for t in outputs]:
        raise ValidationError(
            f"{where}: declared output types {declared} differ from the "
            f"derived {[str(t) for t in outputs]}"
        )
    return Node(i, op, tuple(ports), attrs, tuple(outputs), line)


def _check_affine(program: Program) -> None:
    """Every output is read exactly once (first offence in node order). Ports are keyed as
    (node, index) pairs: a tuple hashes in C, a `Port` through its dataclass `__hash__`."""
    reader: dict[tuple[int, int], Node] = {}
    for n in program.nodes:
        for p in n.inputs:
            key = (p.node, p.index)
            if key in reader:
                raise ValidationError(
                    f"output {p.index} of {program.node(p.node).label()} is consumed twice "
                    f"(by {reader[key].label()} and {n.label()}); use copy"
                )
            reader[key] = n
    if len(reader) == sum(len(n.outputs) for n in program.nodes):
        return  # every key names a real output (inputs were checked), so all are read
    for n in program.nodes:
        for k in range(len(n.outputs)):
            if (n.id, k) not in reader:
                raise ValidationError(f"output {k} of {n.label()} is never consumed")
