"""Access-side stream ops: what each stream node of the IR may be, and its type rule.

A rule gets the validator (`dsl.dae.validate.Checker`, holding the TUs, streams and memrefs
defined so far), the stream's id, its raw JSON and the place to name in errors; it returns
the `StreamNode` and the dtype of its values. Streams of a TU read its iteration's values;
what each op computes is `interpreter/dae/access.py`, what it costs `costs.py`.
"""

from __future__ import annotations

from typing import Any

from dsl.core.spec import USES_COMPUTE, VALUE_TIMED
from dsl.dae.checks import MEMREF_DTYPES, fail
from dsl.dae.ir import StreamNode
from dsl.dae.ops import ACCESS, DAE

ALU_FNS = ("add", "sub", "mul", "div", "min", "max")
"""Integer ALU streams on the access side (`div` is floor division)."""


@DAE.op(
    "access.iv",
    "",
    "one",
    "a loop's induction variable (one value, or 8 lanes, per iteration)",
    group=ACCESS,
)
def iv_rule(c: Any, i: int, d: dict, where: str) -> tuple[StreamNode, str]:
    return StreamNode.make(i, "iv", c.stream_tu(d, where)), "int64"


@DAE.op(
    "access.load",
    "index*",
    "one",
    "a memory stream: mem[index...] per iteration (a gather in vector loops)",
    flags=(USES_COMPUTE, VALUE_TIMED),
    group=ACCESS,
    memref="an input memref",
    nontemporal=False,
    contiguous=False,
)
def load_rule(c: Any, i: int, d: dict, where: str) -> tuple[StreamNode, str]:
    tu = c.stream_tu(d, where)
    args = c.stream_args(d, tu, where)
    m = c.memrefs.get(d.get("memref"))
    if m is None:
        raise fail(where, f"unknown memref {d.get('memref')!r}")
    if m.output:
        raise fail(where, f"memref {m.name!r} is an output; the access side only reads inputs")
    if len(args) != len(m.shape):
        raise fail(where, f"{m.name} has rank {len(m.shape)} but {len(args)} indices")
    nontemporal, contiguous = d.get("nontemporal", False), d.get("contiguous", False)
    if not isinstance(nontemporal, bool) or not isinstance(contiguous, bool):
        raise fail(where, "nontemporal and contiguous must be booleans")
    if contiguous:
        _check_contiguous(c, tu, args, where)
    dtype = MEMREF_DTYPES[m.dtype]
    s = StreamNode.make(
        i,
        "load",
        tu,
        args,
        dtype=dtype,
        memref=m.name,
        nontemporal=nontemporal,
        contiguous=contiguous,
    )
    return s, dtype


def _check_contiguous(c: Any, tu: int, args: tuple, where: str) -> None:
    """One vector load per chunk needs the lanes to be consecutive elements of one row."""
    t = c.tus[tu]
    last = args[-1].stream
    if (
        t.lanes == 1
        or last is None
        or c.streams[last].op != "iv"
        or c.streams[last].tu != tu
        or t.step != 1
    ):
        raise fail(
            where,
            "contiguous loads need the vector TU's own induction variable (step 1) as the"
            " last index",
        )
    for a in args[:-1]:
        if a.stream is not None and c.streams[a.stream].tu == tu:
            raise fail(where, "contiguous loads may vary only in the last index")


@DAE.op(
    "access.alu",
    "a,b",
    "one",
    "integer arithmetic on streams, ints and dims: `+ - * //`, minimum, maximum",
    flags=(USES_COMPUTE,),
    group=ACCESS,
    fn=ALU_FNS,
)
def alu_rule(c: Any, i: int, d: dict, where: str) -> tuple[StreamNode, str]:
    tu = c.stream_tu(d, where)
    args = c.stream_args(d, tu, where)
    if d.get("fn") not in ALU_FNS or len(args) != 2:
        raise fail(where, f"needs fn in {ALU_FNS} and two args")
    return StreamNode.make(i, "alu", tu, args, fn=d["fn"]), "int64"


@DAE.op(
    "access.buffer",
    "source",
    "one",
    "every value of `source` over one fiber of its loop, as one row (lives in the parent loop)",
    group=ACCESS,
)
def buffer_rule(c: Any, i: int, d: dict, where: str) -> tuple[StreamNode, str]:
    src = c.stream_ref(d.get("source"), where)
    s = c.streams[src]
    if s.op == "buffer" or s.tu is None:
        raise fail(where, f"source {src} must be a stream of a TU")
    t = c.tus[s.tu]
    if t.lo.stream is not None or t.hi.stream is not None or t.step != 1:
        raise fail(
            where,
            f"source TU {t.id} must have static bounds and step 1 so every row has the same length",
        )
    if not (t.lo.const == 0 or (t.lo.const is not None and t.hi.const is not None)):
        raise fail(where, f"source TU {t.id} must start at 0 (or have constant bounds)")
    dtype = c.stream_dtype[src]
    return StreamNode.make(i, "buffer", t.parent, dtype=dtype, source=src), dtype
