"""Declarations of the SAM primitives: ports, stream kinds and attributes, one place each.

A primitive is a name plus a typing rule. The builder (`dsl.sam.builder`) and the IR
loader (`dsl.sam.ir.load_ir`) both call `type_node` so that a reference can never reach an
ALU, whichever way the program arrived. Semantics and timing live in `interpreter/sam`,
found there by the same names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

CRD, REF, VAL, REPSIG = "crd", "ref", "val", "repsig"
KINDS = (CRD, REF, VAL, REPSIG)

BINARY_OPS = ("add", "sub", "mul", "div", "max", "min", "matmul", "matmul_t")
UNARY_OPS = ("exp", "sin", "cos", "rsqrt", "sigmoid", "neg", "abs", "relu")
SCALAR_OPS = ("scalar_add", "scalar_mul", "scalar_div", "scalar_max", "scalar_pow")
ALU_OPS = BINARY_OPS + UNARY_OPS + SCALAR_OPS
REDUCE_OPS = ("add", "max", "min")
MAX_FANOUT = 64  # most copies, lanes or joiner inputs of one primitive
MAX_DEPTH = 16  # deepest join


class KindError(Exception):
    """A port got the wrong kind of stream or an attribute is wrong; `port` names it."""

    def __init__(self, port: str, message: str) -> None:
        super().__init__(message)
        self.port = port
        self.message = message


@dataclass(frozen=True)
class Primitive:
    """One primitive: `ports(attrs)` gives input port names, `typing` the output kinds.

    `typing(attrs, input_kinds) -> ((output name, kind), ...)` raises `KindError`.
    `attrs` maps each required attribute to its Python type; `optional` likewise.
    """

    name: str
    summary: str
    attrs: dict[str, type]
    optional: dict[str, type]
    ports: Callable[[dict], tuple[str, ...]]
    typing: Callable[[dict, tuple[str, ...]], tuple[tuple[str, str], ...]]
    sink: bool = False


PRIMITIVES: dict[str, Primitive] = {}


def _register(p: Primitive) -> None:
    PRIMITIVES[p.name] = p


def _expect(port: str, kind: str, allowed: tuple[str, ...]) -> None:
    if kind not in allowed:
        want = " or ".join(allowed)
        raise KindError(port, f"port {port!r} needs a {want} stream, got {kind}")


def _fixed(*names: str) -> Callable[[dict], tuple[str, ...]]:
    return lambda attrs: names


def _pairs(attrs: dict) -> tuple[str, ...]:
    names: list[str] = []
    for k in range(attrs["n"]):
        names += [f"crd{k}", f"payload{k}"]
    return tuple(names)


# -- sources and scanners -------------------------------------------------------------------


def _type_root(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return (("ref", REF),)


def _type_scan(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _expect("ref", kinds[0], (REF,))
    return (("crd", CRD), ("ref", REF))


def _type_locate(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _expect("crd", kinds[0], (CRD,))
    _expect("ref", kinds[1], (REF,))
    return (("crd", CRD), ("ref", REF))


def _type_repsig(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _expect("crd", kinds[0], (CRD, REF))
    return (("repsig", REPSIG),)


def _type_repeat(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _expect("in", kinds[0], (REF, VAL))
    _expect("repsig", kinds[1], (REPSIG,))
    return (("out", kinds[0]),)


def _type_join(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    outs = [("crd", CRD)]
    for k in range(attrs["n"]):
        _expect(f"crd{k}", kinds[2 * k], (CRD,))
        _expect(f"payload{k}", kinds[2 * k + 1], (REF, VAL))
        outs.append((f"payload{k}", kinds[2 * k + 1]))
    return tuple(outs)


def _type_load(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _expect("ref", kinds[0], (REF,))
    return (("val", VAL),)


def _alu_ports(attrs: dict) -> tuple[str, ...]:
    return ("a", "b") if attrs.get("op") in BINARY_OPS else ("a",)


def _type_alu(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    op = attrs["op"]
    if op not in ALU_OPS:
        raise KindError("op", f"unknown ALU op {op!r}; known: {', '.join(ALU_OPS)}")
    if op in SCALAR_OPS and "scalar" not in attrs:
        raise KindError("scalar", f"ALU op {op!r} needs the scalar attribute")
    if op not in SCALAR_OPS and "scalar" in attrs:
        raise KindError("scalar", f"ALU op {op!r} takes no scalar")
    for port, kind in zip(_alu_ports(attrs), kinds, strict=True):
        _expect(port, kind, (VAL,))
    return (("val", VAL),)


def _type_reduce(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    if attrs["op"] not in REDUCE_OPS:
        raise KindError("op", f"unknown reduce op {attrs['op']!r}; known: {', '.join(REDUCE_OPS)}")
    _expect("val", kinds[0], (VAL,))
    return (("val", VAL),)


def _spacc_ports(attrs: dict) -> tuple[str, ...]:
    return ("crd", "val") if attrs.get("order") == 1 else ("outer", "crd", "val")


def _type_spacc(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    if attrs["order"] not in (1, 2):
        raise KindError("order", f"sparse accumulator order must be 1 or 2, got {attrs['order']}")
    for port, kind in zip(_spacc_ports(attrs), kinds, strict=True):
        _expect(port, kind, (VAL,) if port == "val" else (CRD,))
    if attrs["order"] == 1:
        return (("crd", CRD), ("val", VAL))
    return (("outer", CRD), ("crd", CRD), ("val", VAL))


def _type_crd_pair(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _expect("outer", kinds[0], (CRD,))
    _expect("inner", kinds[1], (CRD,))
    return (("outer", CRD), ("inner", CRD))


def _type_val_drop(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _expect("val", kinds[0], (VAL,))
    _expect("crd", kinds[1], (CRD,))
    return (("val", VAL), ("crd", CRD))


def _type_write_level(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _expect("crd", kinds[0], (CRD,))
    return ()


def _type_write_vals(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _expect("val", kinds[0], (VAL,))
    return ()


def _type_broadcast(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((f"out{k}", kinds[0]) for k in range(attrs["n"]))


def _type_fork(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _expect("in", kinds[0], (CRD, REF, VAL))
    return tuple((f"lane{k}", kinds[0]) for k in range(attrs["lanes"]))


def _join_ports(attrs: dict) -> tuple[str, ...]:
    return ("order",) + tuple(f"lane{k}" for k in range(attrs["lanes"]))


def _type_lane_join(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    if attrs["depth"] < 0:
        raise KindError("depth", f"join depth must be >= 0, got {attrs['depth']}")
    _expect("order", kinds[0], (CRD, REF))
    first = kinds[1]
    _expect("lane0", first, (CRD, REF, VAL))
    for k, kind in enumerate(kinds[1:]):
        if kind != first:
            raise KindError(f"lane{k}", f"all lanes must carry {first} streams, lane{k} is {kind}")
    return (("out", first),)


_TENSOR_LEVEL = {"tensor": str, "level": int}

_register(
    Primitive(
        "root",
        "the root reference stream [0, D] that starts a tensor walk",
        {},
        {},
        _fixed(),
        _type_root,
    )
)
_register(
    Primitive(
        "scan",
        "level scanner: ref -> (crd, ref) over one tensor level",
        _TENSOR_LEVEL,
        {},
        _fixed("ref"),
        _type_scan,
    )
)
_register(
    Primitive(
        "locate",
        "position of given coordinates in a tensor level",
        _TENSOR_LEVEL,
        {},
        _fixed("crd", "ref"),
        _type_locate,
    )
)
_register(
    Primitive("repeat_signal", "R per coordinate, S per stop", {}, {}, _fixed("crd"), _type_repsig)
)
_register(
    Primitive(
        "repeat",
        "re-emit each outer token once per R",
        {},
        {},
        _fixed("in", "repsig"),
        _type_repeat,
    )
)
_register(
    Primitive(
        "intersect", "n-ary intersection of coordinate streams", {"n": int}, {}, _pairs, _type_join
    )
)
_register(
    Primitive("union", "n-ary union of coordinate streams", {"n": int}, {}, _pairs, _type_join)
)
_register(
    Primitive(
        "load", "value array load: ref -> vals[ref]", {"tensor": str}, {}, _fixed("ref"), _type_load
    )
)
_register(
    Primitive(
        "alu",
        "elementwise arithmetic on aligned value streams",
        {"op": str},
        {"scalar": float},
        _alu_ports,
        _type_alu,
    )
)
_register(
    Primitive(
        "reduce",
        "reduce each innermost fiber to one value",
        {"op": str},
        {},
        _fixed("val"),
        _type_reduce,
    )
)
_register(
    Primitive(
        "spacc",
        "sparse accumulator over an unordered inner level",
        {"order": int},
        {},
        _spacc_ports,
        _type_spacc,
    )
)
_register(
    Primitive(
        "crd_drop",
        "drop outer coordinates whose inner fiber is empty",
        {},
        {},
        _fixed("outer", "inner"),
        _type_crd_pair,
    )
)
_register(
    Primitive(
        "crd_hold",
        "repeat each outer coordinate once per inner coordinate",
        {},
        {},
        _fixed("outer", "inner"),
        _type_crd_pair,
    )
)
_register(
    Primitive(
        "val_drop",
        "drop zero values with their coordinates",
        {},
        {},
        _fixed("val", "crd"),
        _type_val_drop,
    )
)
_register(
    Primitive(
        "write_level",
        "level writer: crd stream -> one level of a tensor",
        _TENSOR_LEVEL,
        {},
        _fixed("crd"),
        _type_write_level,
        sink=True,
    )
)
_register(
    Primitive(
        "write_vals",
        "value writer: val stream -> a tensor's values",
        {"tensor": str},
        {},
        _fixed("val"),
        _type_write_vals,
        sink=True,
    )
)
_register(
    Primitive(
        "broadcast", "copy one stream to n consumers", {"n": int}, {}, _fixed("in"), _type_broadcast
    )
)
_register(
    Primitive(
        "fork",
        "deal the data tokens of each fiber round-robin to lanes",
        {"lanes": int},
        {},
        _fixed("in"),
        _type_fork,
    )
)
_register(
    Primitive(
        "join",
        "merge lane streams back in the order a fork dealt them",
        {"lanes": int, "depth": int},
        {},
        _join_ports,
        _type_lane_join,
    )
)


def check_attrs(op: str, attrs: dict) -> None:
    """Raise `KindError` when an attribute is missing, unknown or of the wrong type."""
    spec = PRIMITIVES[op]
    for name in spec.attrs:
        if name not in attrs:
            raise KindError(name, f"missing attribute {name!r}")
    for name, value in attrs.items():
        typ = spec.attrs.get(name) or spec.optional.get(name)
        if typ is None:
            raise KindError(name, f"unknown attribute {name!r}")
        ok = isinstance(value, typ) and not (typ is int and isinstance(value, bool))
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise KindError(name, f"attribute {name!r} must be {typ.__name__}, got {value!r}")
        if typ is float and not _finite(value):
            raise KindError(name, f"attribute {name!r} must be a finite number, got {value!r}")


def _finite(value: float) -> bool:
    """A float attribute is a value the ALU computes with: NaN or inf (or an int too large
    for a float) would only poison the outputs."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def type_node(op: str, attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Output (name, kind) pairs of a node, after checking attributes and input kinds."""
    if op not in PRIMITIVES:
        raise KindError("op", f"unknown primitive {op!r}; known: {', '.join(sorted(PRIMITIVES))}")
    check_attrs(op, attrs)
    spec = PRIMITIVES[op]
    for name in ("n", "lanes"):
        if name in attrs and not 2 <= attrs[name] <= MAX_FANOUT:
            raise KindError(name, f"{op} needs 2 <= {name} <= {MAX_FANOUT}, got {attrs[name]}")
    if op == "join" and attrs["depth"] > MAX_DEPTH:
        raise KindError("depth", f"join depth must be <= {MAX_DEPTH}, got {attrs['depth']}")
    ports = spec.ports(attrs)
    if len(kinds) != len(ports):
        raise KindError(
            "inputs",
            f"{op} takes {len(ports)} inputs ({', '.join(ports) or 'none'}), got {len(kinds)}",
        )
    return spec.typing(attrs, kinds)
