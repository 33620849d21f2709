"""Declarations of the SAM primitives in the shared op registry (`dsl.core.spec`): ports,
stream kinds and attributes, one place each.

A primitive is a name plus a typing rule. The builder (`dsl.sam.builder`), the IR loader
(`dsl.sam.ir.load_ir`) and the compiler all use `SAM`, and the first two call `type_node`,
so that a reference can never reach an ALU, whichever way the program arrived. Semantics
and costs live in `interpreter/sam`, registered in `SAM` under the same names.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from dsl.core.errors import RuleError
from dsl.core.spec import SINK, OpSpec, Registry

CRD, REF, VAL, REPSIG, BV = "crd", "ref", "val", "repsig", "bv"
KINDS = (CRD, REF, VAL, REPSIG, BV)

BINARY_OPS = ("add", "sub", "mul", "div", "max", "min", "matmul", "matmul_t")
UNARY_OPS = ("exp", "sin", "cos", "rsqrt", "sigmoid", "neg", "abs", "relu")
SCALAR_OPS = ("scalar_add", "scalar_mul", "scalar_div", "scalar_max", "scalar_pow")
ALU_OPS = BINARY_OPS + UNARY_OPS + SCALAR_OPS
REDUCE_OPS = ("add", "max", "min")
MAX_FANOUT = 64  # most copies, lanes or joiner inputs of one primitive
MAX_DEPTH = 16  # deepest join
MAX_BV_BITS = 63  # a bit vector is one int64 token: coordinates 0..62


SAM = Registry("sam", reference="sam/REFERENCE.md", anchor="`sam.{name}")
"""Every SAM primitive. `OpSpec.attrs` maps an attribute to (type, required); `rule` is the
typing rule `(attrs, input kinds) -> ((output name, kind), ...)`, raising `RuleError`."""

Ports = Callable[[dict], tuple[str, ...]]
_PORTS: dict[str, Ports] = {}  # input port names of each primitive, given its attributes


def _expect(port: str, kind: str, allowed: tuple[str, ...]) -> None:
    if kind not in allowed:
        want = " or ".join(allowed)
        raise RuleError(f"port {port!r} needs a {want} stream, got {kind}", port)


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
        raise RuleError(f"unknown ALU op {op!r}; known: {', '.join(ALU_OPS)}", "op")
    if op in SCALAR_OPS and "scalar" not in attrs:
        raise RuleError(f"ALU op {op!r} needs the scalar attribute", "scalar")
    if op not in SCALAR_OPS and "scalar" in attrs:
        raise RuleError(f"ALU op {op!r} takes no scalar", "scalar")
    for port, kind in zip(_alu_ports(attrs), kinds, strict=True):
        _expect(port, kind, (VAL,))
    return (("val", VAL),)


def _type_reduce(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    if attrs["op"] not in REDUCE_OPS:
        raise RuleError(f"unknown reduce op {attrs['op']!r}; known: {', '.join(REDUCE_OPS)}", "op")
    _expect("val", kinds[0], (VAL,))
    return (("val", VAL),)


def _spacc_ports(attrs: dict) -> tuple[str, ...]:
    return ("crd", "val") if attrs.get("order") == 1 else ("outer", "crd", "val")


def _type_spacc(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    if attrs["order"] not in (1, 2):
        raise RuleError(f"sparse accumulator order must be 1 or 2, got {attrs['order']}", "order")
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


def _type_same(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _expect("in", kinds[0], (CRD, REF, VAL))
    return (("out", kinds[0]),)


def _type_split(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _check_factor(attrs)
    _expect("crd", kinds[0], (CRD,))
    return (("outer", CRD), ("inner", CRD))


def _type_flatten(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _check_factor(attrs)
    return _type_crd_pair(attrs, kinds)[:1]


def _check_factor(attrs: dict) -> None:
    if attrs["factor"] < 1:
        raise RuleError(f"factor must be a positive int, got {attrs['factor']}", "factor")


def _type_bv(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _expect("crd", kinds[0], (CRD,))
    return (("bv", BV),)


def _type_bv_chunk(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _expect("bv", kinds[0], (BV,))
    width, size = attrs["width"], attrs["size"]
    if not 1 <= width <= size <= MAX_BV_BITS:
        raise RuleError(
            f"bv_chunk needs 1 <= width <= size <= {MAX_BV_BITS}, got width {width}, size {size}",
            "width",
        )
    return (("bv", BV),)


def _type_crdpt_convert(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _expect("outer", kinds[0], (CRD,))
    _expect("inner", kinds[1], (CRD, VAL))
    return (("outer", CRD), ("inner", kinds[1]))


def _type_crdpt_accumulate(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    for port, kind, want in zip(("outer", "inner", "val"), kinds, (CRD, CRD, VAL), strict=True):
        _expect(port, kind, (want,))
    return (("outer", CRD), ("inner", CRD), ("val", VAL))


def _type_scan_bv(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _expect("ref", kinds[0], (REF,))
    return (("bv", BV), ("ref", REF))


def _type_bv_drop(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    _expect("outer", kinds[0], (BV,))
    _expect("inner", kinds[1], (BV,))
    return (("outer", BV), ("inner", BV))


def _type_intersect_bv(attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    for port, kind, want in zip(("bv1", "ref1", "bv2", "ref2"), kinds, (BV, REF) * 2, strict=True):
        _expect(port, kind, (want,))
    return (("bv", BV), ("ref1", REF), ("ref2", REF))


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
        raise RuleError(f"join depth must be >= 0, got {attrs['depth']}", "depth")
    _expect("order", kinds[0], (CRD, REF))
    first = kinds[1]
    _expect("lane0", first, (CRD, REF, VAL))
    for k, kind in enumerate(kinds[1:]):
        if kind != first:
            raise RuleError(f"all lanes must carry {first} streams, lane{k} is {kind}", f"lane{k}")
    return (("out", first),)


def _declare(
    name: str,
    doc: str,
    inputs: str,
    outputs: str,
    typing: Callable,
    attrs: dict[str, type] | None = None,
    optional: dict[str, type] | None = None,
    *,
    ports: Ports | None = None,
    sink: bool = False,
) -> None:
    """Declare a primitive. `inputs` and `outputs` list its ports ("crd,ref"); where the
    input ports depend on the attributes, `ports` computes them and `inputs` shows them."""
    table = {k: (t, True) for k, t in (attrs or {}).items()}
    table.update({k: (t, False) for k, t in (optional or {}).items()})
    fixed = tuple(p for p in inputs.split(",") if p)
    _PORTS[name] = ports or (lambda attrs: fixed)
    flags = frozenset({SINK}) if sink else frozenset()
    SAM.declare(OpSpec(name, doc, inputs, outputs, table, typing, flags))


_TENSOR_LEVEL = {"tensor": str, "level": int}
_declare(
    "root", "the root reference stream [0, D] that starts a tensor walk", "", "ref", _type_root
)
_declare(
    "scan", "level scanner: ref -> (crd, ref) over one tensor level", "ref", "crd,ref",
    _type_scan, _TENSOR_LEVEL,
)  # fmt: skip
_declare(
    "locate", "position of given coordinates in a tensor level", "crd,ref", "crd,ref",
    _type_locate, _TENSOR_LEVEL,
)  # fmt: skip
_declare("repeat_signal", "R per coordinate, S per stop", "crd", "repsig", _type_repsig)
_declare("repeat", "re-emit each outer token once per R", "in,repsig", "out", _type_repeat)
_declare(
    "intersect", "n-ary intersection of coordinate streams", "crd0,payload0,...",
    "crd,payload0,...", _type_join, {"n": int}, ports=_pairs,
)  # fmt: skip
_declare(
    "union", "n-ary union of coordinate streams", "crd0,payload0,...", "crd,payload0,...",
    _type_join, {"n": int}, ports=_pairs,
)  # fmt: skip
_declare("load", "value array load: ref -> vals[ref]", "ref", "val", _type_load, {"tensor": str})
_declare(
    "alu", "elementwise arithmetic on aligned value streams", "a[,b]", "val", _type_alu,
    {"op": str}, {"scalar": float}, ports=_alu_ports,
)  # fmt: skip
_declare(
    "reduce", "reduce each innermost fiber to one value", "val", "val", _type_reduce, {"op": str}
)
_declare(
    "spacc", "sparse accumulator over an unordered inner level", "[outer,]crd,val",
    "[outer,]crd,val", _type_spacc, {"order": int}, ports=_spacc_ports,
)  # fmt: skip
_declare(
    "crd_drop", "drop outer coordinates whose inner fiber is empty", "outer,inner",
    "outer,inner", _type_crd_pair,
)  # fmt: skip
_declare(
    "crd_hold", "repeat each outer coordinate once per inner coordinate", "outer,inner",
    "outer,inner", _type_crd_pair,
)  # fmt: skip
_declare(
    "val_drop", "drop zero values with their coordinates", "val,crd", "val,crd", _type_val_drop
)
_declare("stkn_drop", "drop every stop token", "in", "out", _type_same)
_declare(
    "empty_stkn_drop", "drop empty fibers: leading stops go, each run of stops becomes one",
    "in", "out", _type_same,
)  # fmt: skip
_declare(
    "split", "tile a coordinate level: crd -> (crd // factor, crd or crd % factor)", "crd",
    "outer,inner", _type_split, {"factor": int}, {"original": bool},
)  # fmt: skip
_declare(
    "flatten", "undo split: (outer, inner) -> outer * factor + inner", "outer,inner", "crd",
    _type_flatten, {"factor": int},
)  # fmt: skip
_declare(
    "crdpt_convert", "coordinate points -> fibers: runs of outer points own inner fibers",
    "outer,inner", "outer,inner", _type_crdpt_convert, None, {"last_level": bool},
)  # fmt: skip
_declare(
    "crdpt_accumulate", "sum values by (outer, inner) point; emit the points sorted",
    "outer,inner,val", "outer,inner,val", _type_crdpt_accumulate,
)  # fmt: skip
_declare("bv", "bit vector: each fiber's coordinates -> one mask token", "crd", "bv", _type_bv)
_declare(
    "bv_chunk", "cut each bit vector into size/width chunks of width bits", "bv", "bv",
    _type_bv_chunk, {"width": int, "size": int},
)  # fmt: skip
_declare(
    "scan_bv", "bit-vector level scanner: ref -> (one mask per fiber, its first ref)", "ref",
    "bv,ref", _type_scan_bv, _TENSOR_LEVEL,
)  # fmt: skip
_declare(
    "bv_drop", "clear outer bits whose inner fiber is empty; drop empty fibers",
    "outer,inner", "outer,inner", _type_bv_drop,
)  # fmt: skip
_declare(
    "intersect_bv", "AND of two bit vectors, with the refs of each side per common bit",
    "bv1,ref1,bv2,ref2", "bv,ref1,ref2", _type_intersect_bv,
)  # fmt: skip
_declare(
    "write_level", "level writer: crd stream -> one level of a tensor", "crd", "",
    _type_write_level, _TENSOR_LEVEL, sink=True,
)  # fmt: skip
_declare(
    "write_vals", "value writer: val stream -> a tensor's values", "val", "", _type_write_vals,
    {"tensor": str}, sink=True,
)  # fmt: skip
_declare(
    "broadcast", "copy one stream to n consumers", "in", "out0,...", _type_broadcast, {"n": int}
)
_declare(
    "fork", "deal the data tokens of each fiber round-robin to lanes", "in", "lane0,...",
    _type_fork, {"lanes": int},
)  # fmt: skip
_declare(
    "join", "merge lane streams back in the order a fork dealt them", "order,lane0,...",
    "out", _type_lane_join, {"lanes": int, "depth": int}, ports=_join_ports,
)  # fmt: skip


def check_attrs(op: str, attrs: dict) -> None:
    """Raise `RuleError` when an attribute is missing, unknown or of the wrong type."""
    table = SAM[op].attrs
    for name, (_, required) in table.items():
        if required and name not in attrs:
            raise RuleError(f"missing attribute {name!r}", name)
    for name, value in attrs.items():
        if name not in table:
            raise RuleError(f"unknown attribute {name!r}", name)
        typ = table[name][0]
        ok = isinstance(value, typ) and not (typ is int and isinstance(value, bool))
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise RuleError(f"attribute {name!r} must be {typ.__name__}, got {value!r}", name)
        if typ is float and not _finite(value):
            raise RuleError(f"attribute {name!r} must be a finite number, got {value!r}", name)


def _finite(value: float) -> bool:
    """A float attribute is a value the ALU computes with: NaN or inf (or an int too large
    for a float) would only poison the outputs."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def ports(op: str, attrs: dict) -> tuple[str, ...]:
    """Input port names of a primitive with these attributes."""
    return _PORTS[op](attrs)


def type_node(op: str, attrs: dict, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Output (name, kind) pairs of a node, after checking attributes and input kinds."""
    if op not in SAM:
        raise RuleError(f"unknown primitive {op!r}; known: {', '.join(sorted(SAM))}", "op")
    check_attrs(op, attrs)
    for name in ("n", "lanes"):
        if name in attrs and not 2 <= attrs[name] <= MAX_FANOUT:
            raise RuleError(f"{op} needs 2 <= {name} <= {MAX_FANOUT}, got {attrs[name]}", name)
    if op == "join" and attrs["depth"] > MAX_DEPTH:
        raise RuleError(f"join depth must be <= {MAX_DEPTH}, got {attrs['depth']}", "depth")
    names = ports(op, attrs)
    if len(kinds) != len(names):
        raise RuleError(
            f"{op} takes {len(names)} inputs ({', '.join(names) or 'none'}), got {len(kinds)}",
            "inputs",
        )
    return SAM[op].rule(attrs, kinds)
