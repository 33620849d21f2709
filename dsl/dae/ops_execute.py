"""Execute-side ops (what callbacks compute): each op's declaration and type rule.

A value's type is `(dtype, form, length)`: scalar (length 1), vector (8 lanes with a tail
mask) or buffer (a row of a static length, an int or a dim name). A rule gets the case's
checker (`dsl.dae.validate.OpChecker`: the types defined so far, the memrefs, the number
of counters, the place to name in errors), the op's raw JSON and its arguments' types; it
returns the `Op` and its result's type (None for ops without a result: `outputs="none"`).
Semantics: `interpreter/dae/execute.py`; cost: `interpreter/dae/costs.py`.
"""

from __future__ import annotations

import math
from typing import Any

from dsl.core.spec import SINK, USES_COMPUTE, VALUE_TIMED
from dsl.dae.checks import MAX_FLOAT, MEMREF_DTYPES, fail, int_in, show
from dsl.dae.ir import DTYPES, LANES, Form, Length, Op
from dsl.dae.ops import DAE, EXECUTE

BINARY_FNS = ("add", "sub", "mul", "div", "min", "max")
"""Execute-side element-wise arithmetic (`div` floors on int64, divides on float32)."""
ACCUMULATE_FNS = ("add", "max", "min", "mul", "div")
"""Read-modify-write on an output: `mem[idx] = fn(mem[idx], value)`."""

ValueType = tuple[str, Form, Length]
Checked = tuple[Op, ValueType | None]


@DAE.op(
    "execute.pop",
    "",
    "one",
    "the next operand of the data queue",
    group=EXECUTE,
    dtype=DTYPES,
    form=tuple(f.value for f in Form),
    length="buffers: an int or a dim",
)
def pop_rule(k: Any, d: dict, ts: list[ValueType]) -> Checked:
    dtype, form = d.get("dtype"), d.get("form")
    if dtype not in DTYPES or form not in {f.value for f in Form}:
        raise fail(k.where, f"needs dtype in {DTYPES} and form scalar|vector|buffer")
    form = Form(form)
    fixed = {Form.SCALAR: 1, Form.VECTOR: LANES}.get(form)
    length: Length = fixed or k.c.length(d.get("length"), k.where)
    return Op("pop", dtype=dtype, form=form, length=length), (dtype, form, length)


INFINITIES = {"inf": math.inf, "-inf": -math.inf}
"""How the IR writes float32 infinities (the identities of max and min)."""


@DAE.op(
    "execute.const",
    "",
    "one",
    "a number literal",
    group=EXECUTE,
    value='int, finite float, or "inf" / "-inf" (float32 infinities: strict JSON has none)',
    dtype=DTYPES,
)
def const_rule(k: Any, d: dict, ts: list[ValueType]) -> Checked:
    value, dtype = d.get("value"), d.get("dtype")
    named = dtype == "float32" and isinstance(value, str) and value in INFINITIES
    if named:
        value = INFINITIES[value]
    if dtype not in DTYPES or not isinstance(value, (int, float)) or isinstance(value, bool):
        raise fail(k.where, "needs a numeric value and dtype int64|float32")
    if dtype == "int64":
        if not isinstance(value, int):
            raise fail(k.where, "int64 constants must be ints")
        int_in(value, k.where, "value")
    elif not (named or (math.isfinite(value) and abs(value) <= MAX_FLOAT)):
        raise fail(
            k.where,
            f"float32 value must be finite and within ±{MAX_FLOAT:.4g} (or the string"
            f' "inf" / "-inf"), got {show(value)}',
        )
    return Op("const", value=value, dtype=dtype), (dtype, Form.SCALAR, 1)


@DAE.op(
    "execute.arange",
    "",
    "one",
    "the index row 0..n-1",
    group=EXECUTE,
    length="an int or a dim",
)
def arange_rule(k: Any, d: dict, ts: list[ValueType]) -> Checked:
    n = k.c.length(d.get("length"), k.where)
    return Op("arange", length=n), ("int64", Form.BUFFER, n)


@DAE.op("execute.get", "", "one", "a counter's value", group=EXECUTE, counter="a counter id")
def get_rule(k: Any, d: dict, ts: list[ValueType]) -> Checked:
    return Op("get", counter=k.counter(d)), ("int64", Form.SCALAR, 1)


@DAE.op(
    "execute.increment",
    "by?",
    "none",
    "add `by` to a counter: an int fixed in the program, or a runtime int64 scalar >= 0",
    flags=(SINK,),
    group=EXECUTE,
    counter="a counter id",
    by=1,
)
def increment_rule(k: Any, d: dict, ts: list[ValueType]) -> Checked:
    """A runtime amount (one argument) must be an int64 scalar that no counter's value
    reaches: counters are then a prefix sum over the token order, known before any callback
    reads one, and an amount can never feed back on itself."""
    counter = k.counter(d)
    if not ts:
        return Op("increment", counter=counter, by=int_in(d.get("by", 1), k.where, "by")), None
    if "by" in d or len(ts) != 1:
        raise fail(k.where, "takes either an int `by` or one value argument, not both")
    if ts[0][:2] != ("int64", Form.SCALAR):
        raise fail(k.where, f"the amount must be an int64 scalar, got {ts[0][1].value}<{ts[0][0]}>")
    if d["args"][0] in k.counted:
        raise fail(
            k.where,
            "the amount is computed from a counter's get(); an increment may depend on"
            " operands, constants and input loads only",
        )
    return Op("increment", counter=counter), None


@DAE.op(
    "execute.binary",
    "a,b",
    "one",
    "element-wise arithmetic; scalars broadcast, int64 with float32 gives float32",
    flags=(USES_COMPUTE,),
    group=EXECUTE,
    fn=BINARY_FNS,
)
def binary_rule(k: Any, d: dict, ts: list[ValueType]) -> Checked:
    if d.get("fn") not in BINARY_FNS or len(ts) != 2:
        raise fail(k.where, f"needs fn in {BINARY_FNS} and two args")
    form, n = k.combine(ts)
    dtype = "float32" if any(t[0] == "float32" for t in ts) else "int64"
    return Op("binary", fn=d["fn"]), (dtype, form, n)


@DAE.op(
    "execute.load",
    "index*",
    "one",
    "read an input at value indices (vector indices gather per lane)",
    flags=(VALUE_TIMED,),
    group=EXECUTE,
    memref="an input memref",
)
def load_rule(k: Any, d: dict, ts: list[ValueType]) -> Checked:
    m = k.memref(d)
    if m.output:
        raise fail(
            k.where,
            f"{m.name!r} is an output: callbacks may load inputs only (use accumulate for"
            " read-modify-write)",
        )
    k.indices(m, ts, len(ts))
    form, n = k.combine(ts)
    return Op("load", memref=m.name), (MEMREF_DTYPES[m.dtype], form, n)


@DAE.op(
    "execute.store",
    "index*,value",
    "none",
    "write an output at value indices (masked-off lanes are skipped)",
    flags=(USES_COMPUTE, SINK),
    group=EXECUTE,
    memref="an output memref",
)
def store_rule(k: Any, d: dict, ts: list[ValueType]) -> Checked:
    m = k.written(d, ts)
    return Op("store", memref=m.name), None


@DAE.op(
    "execute.accumulate",
    "index*,value",
    "none",
    "read-modify-write an output: mem[index] = fn(mem[index], value)",
    flags=(USES_COMPUTE, SINK),
    group=EXECUTE,
    memref="an output memref",
    fn=ACCUMULATE_FNS,
)
def accumulate_rule(k: Any, d: dict, ts: list[ValueType]) -> Checked:
    m = k.written(d, ts)
    fn = d.get("fn")
    if fn not in ACCUMULATE_FNS:
        raise fail(k.where, f"fn must be one of {ACCUMULATE_FNS}")
    return Op("accumulate", memref=m.name, fn=fn), None


COMPARE_FNS = ("lt", "le", "gt", "ge", "eq", "ne")
"""Comparisons: `<`, `<=`, `>`, `>=`, `==`, `!=`."""


@DAE.op(
    "execute.compare",
    "a,b",
    "one",
    "element-wise comparison, 1 where it holds and 0 elsewhere (int64)",
    flags=(USES_COMPUTE,),
    group=EXECUTE,
    fn=COMPARE_FNS,
)
def compare_rule(k: Any, d: dict, ts: list[ValueType]) -> Checked:
    if d.get("fn") not in COMPARE_FNS or len(ts) != 2:
        raise fail(k.where, f"needs fn in {COMPARE_FNS} and two args")
    form, n = k.combine(ts)
    return Op("compare", fn=d["fn"]), ("int64", form, n)


@DAE.op(
    "execute.select",
    "cond,a,b",
    "one",
    "element-wise choice: a where cond is nonzero, else b",
    flags=(USES_COMPUTE,),
    group=EXECUTE,
)
def select_rule(k: Any, d: dict, ts: list[ValueType]) -> Checked:
    if len(ts) != 3 or ts[0][0] != "int64":
        raise fail(k.where, "needs an int64 condition and two values")
    form, n = k.combine(ts)
    dtype = "float32" if any(t[0] == "float32" for t in ts[1:]) else "int64"
    return Op("select"), (dtype, form, n)
