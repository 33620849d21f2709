"""Parse and check untrusted DAE IR (the JSON that leaves the sandbox).

Every rule of the dialect that can be checked without data is checked here, and each
failure names the node (TU, stream, registration, case, op) and what disagreed. Every number
has a range (`MAX_INT`, `MAX_LENGTH`, `MAX_LANES`, finite float32 constants), so nothing a
program writes into its IR can overflow, round to infinity or size an allocation on the
trusted side. Rules that need data (queue protocol, deadlock, bounds of loads) are the
interpreter's, and what the target's hardware has is its budget's (interpreter.dae.resources).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from dsl.dae.ir import (
    ACCUMULATE_FNS,
    ALU_FNS,
    BINARY_FNS,
    DTYPES,
    LANES,
    TU,
    VERSION,
    Bound,
    Case,
    Counter,
    Event,
    Form,
    Length,
    Memref,
    Op,
    Program,
    Ref,
    Registration,
    Stream,
)
from dsl.errors import ValidationError

MAX_NODES = 20_000
MAX_INT = 2**31 - 1
"""Largest magnitude of any integer in the IR (bounds, steps, extents, constants, counter
values): every index and count the interpreter computes from them then fits in int64."""
MAX_LENGTH = 1 << 16
"""Longest static row (`pop` buffer and `arange` lengths)."""
MAX_LANES = 1024
"""Widest vector loop the IR can express; what a target has is its `[budget] lanes`."""
MAX_FLOAT = 3.4028234663852886e38
"""Largest finite float32: a larger constant would round to infinity."""
MEMREF_DTYPES = {"float32": "float32", "int64": "int64", "int32": "int64"}
"""Task dtypes a memref may have, and the value dtype its loads produce."""


def _fail(where: str, message: str) -> ValidationError:
    return ValidationError(f"{where}: {message}")


def _int(
    value: Any, where: str, what: str, minimum: int | None = None, maximum: int = MAX_INT
) -> int:
    """An int in [minimum (default -MAX_INT), maximum]: no IR integer can overflow int64
    arithmetic on the trusted side."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(where, f"{what} must be an int, got {_show(value)}")
    low = -MAX_INT if minimum is None else minimum
    if not low <= value <= maximum:
        raise _fail(where, f"{what} must be in [{low}, {maximum}], got {_show(value)}")
    return value


def _show(value: Any) -> str:
    """A value for a message: huge ints as their magnitude, so the line stays one line."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**12:
        return f"{'-' if value < 0 else ''}~2**{abs(value).bit_length() - 1}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _list(d: dict, key: str, where: str) -> list:
    value = d.get(key, [])
    if not isinstance(value, list):
        raise _fail(where, f"{key!r} must be a list")
    if len(value) > MAX_NODES:
        raise _fail(where, f"{key!r} has {len(value)} entries, over the limit of {MAX_NODES}")
    return value


def _table(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise _fail(where, f"must be an object, got {type(value).__name__}")
    return value


class Checker:
    """Builds a `Program` node by node, checking each against the ones before it. The
    builder drives the same checker as it records calls, so build-time and load-time
    rules cannot drift apart."""

    def __init__(self, ir: dict) -> None:
        self.ir = ir
        self.dims: dict[str, int | None] = {}
        self.memrefs: dict[str, Memref] = {}
        self.tus: list[TU] = []
        self.streams: list[Stream] = []
        self.stream_dtype: list[str] = []

    # -- helpers ------------------------------------------------------------------
    def length(self, value: Any, where: str) -> Length:
        if isinstance(value, str):
            if value not in self.dims:
                raise _fail(where, f"length names unknown dim {value!r}")
            return value
        return _int(value, where, "length", minimum=1, maximum=MAX_LENGTH)

    def ancestors(self, tu: int | None) -> list[int]:
        """`tu` and its enclosing TUs, innermost first."""
        chain = []
        while tu is not None:
            chain.append(tu)
            tu = self.tus[tu].parent
        return chain

    def stream_ref(self, value: Any, where: str) -> int:
        sid = _int(value, where, "stream id", minimum=0)
        if sid >= len(self.streams):
            raise _fail(where, f"refers to stream {sid}, which is not defined before it")
        return sid

    # -- sections -----------------------------------------------------------------
    def header(self) -> None:
        if self.ir.get("dialect") != "dae":
            raise _fail("program", f"dialect must be 'dae', got {self.ir.get('dialect')!r}")
        if self.ir.get("version") != VERSION:
            raise _fail("program", f"version must be {VERSION}, got {self.ir.get('version')!r}")
        dims = _table(self.ir.get("dims", {}), "dims")
        for k, v in dims.items():
            if not isinstance(k, str) or not k.isidentifier():
                raise _fail("dims", f"bad dim name {k!r}")
            if v is not None:
                _int(v, f"dim {k}", "value", minimum=0)
            self.dims[k] = v

    def memref(self, i: int, raw: Any) -> Memref:
        d = _table(raw, f"memref {i}")
        name = d.get("name")
        where = f"memref {name!r}"
        if not isinstance(name, str) or not name.isidentifier() or name in self.memrefs:
            raise _fail(f"memref {i}", f"name must be a new identifier, got {name!r}")
        if d.get("dtype") not in MEMREF_DTYPES:
            raise _fail(where, f"dtype must be one of {sorted(MEMREF_DTYPES)}")
        shape = d.get("shape")
        if not isinstance(shape, list) or not shape:
            raise _fail(where, "shape must be a non-empty list")
        dims = tuple(
            self.length(s, where)
            if isinstance(s, str)
            else _int(s, where, "shape entry", minimum=0)
            for s in shape
        )
        if not isinstance(d.get("output"), bool):
            raise _fail(where, "'output' must be true or false")
        m = Memref(name, d["dtype"], dims, d["output"])
        self.memrefs[name] = m
        return m

    def bound(self, raw: Any, where: str, parent: int | None) -> Bound:
        d = _table(raw, where)
        if "stream" in d:
            sid = self.stream_ref(d["stream"], where)
            s = self.streams[sid]
            if s.tu is None or s.tu not in self.ancestors(parent):
                raise _fail(where, f"bound stream {sid} must belong to an enclosing TU")
            if self.stream_dtype[sid] != "int64" or self.tus[s.tu].lanes > 1 or s.op == "buffer":
                raise _fail(where, f"bound stream {sid} must be a scalar integer stream")
            return Bound(stream=sid)
        if "dim" in d:
            if d["dim"] not in self.dims:
                raise _fail(where, f"unknown dim {d['dim']!r}")
            return Bound(dim=d["dim"])
        return Bound(const=_int(d.get("const"), where, "const bound", minimum=0))

    def tu(self, i: int, raw: Any) -> TU:
        where = f"TU {i}"
        d = _table(raw, where)
        if d.get("id") != i:
            raise _fail(where, f"ids must count up from 0 in order, got {d.get('id')!r}")
        parent = d.get("parent")
        if parent is not None:
            parent = _int(parent, where, "parent", minimum=0)
            if parent >= i:
                raise _fail(where, f"parent {parent} must be defined before it")
            if self.tus[parent].lanes > 1:
                raise _fail(
                    where, f"parent TU {parent} is vectorised; vector TUs must be innermost"
                )
        lanes = _int(d.get("lanes", 1), where, "lanes", minimum=1, maximum=MAX_LANES)
        if lanes != 1 and lanes % LANES:
            raise _fail(where, f"lanes must be 1 or a multiple of {LANES}, got {lanes}")
        step = _int(d.get("step", 1), where, "step", minimum=1)
        t = TU(
            i,
            parent,
            self.bound(d.get("lo"), f"{where} lo", parent),
            self.bound(d.get("hi"), f"{where} hi", parent),
            step,
            lanes,
        )
        return t

    def stream(self, i: int, raw: Any) -> tuple[Stream, str]:
        d = _table(raw, f"stream {i}")
        op = d.get("op")
        where = f"stream {i} ({op})"
        if d.get("id") != i:
            raise _fail(where, f"ids must count up from 0 in order, got {d.get('id')!r}")
        if op == "buffer":
            src = self.stream_ref(d.get("source"), where)
            s = self.streams[src]
            if s.op == "buffer" or s.tu is None:
                raise _fail(where, f"source {src} must be a stream of a TU")
            t = self.tus[s.tu]
            if t.lo.stream is not None or t.hi.stream is not None or t.step != 1:
                raise _fail(
                    where,
                    f"source TU {t.id} must have static bounds and step 1 so"
                    " every row has the same length",
                )
            if not (t.lo.const == 0 or (t.lo.const is not None and t.hi.const is not None)):
                raise _fail(where, f"source TU {t.id} must start at 0 (or have constant bounds)")
            return Stream(i, "buffer", t.parent, source=src), self.stream_dtype[src]
        tu = d.get("tu")
        tu = _int(tu, where, "tu", minimum=0)
        if tu >= len(self.tus):
            raise _fail(where, f"unknown TU {tu}")
        if op == "iv":
            return Stream(i, "iv", tu), "int64"
        args = []
        for k, a in enumerate(_list(d, "args", where)):
            a = _table(a, f"{where} arg {k}")
            if "stream" in a:
                sid = self.stream_ref(a["stream"], f"{where} arg {k}")
                s = self.streams[sid]
                if s.op == "buffer" or s.tu not in self.ancestors(tu):
                    raise _fail(
                        where,
                        f"arg {k}: stream {sid} is not a stream of TU {tu} or an enclosing TU",
                    )
                if self.stream_dtype[sid] != "int64":
                    raise _fail(
                        where,
                        f"arg {k}: stream {sid} is {self.stream_dtype[sid]};"
                        " indices and ALU operands must be integers",
                    )
                args.append(Ref(stream=sid))
            elif "dim" in a:
                if a["dim"] not in self.dims:
                    raise _fail(where, f"arg {k}: unknown dim {a['dim']!r}")
                args.append(Ref(dim=a["dim"]))
            else:
                args.append(Ref(const=_int(a.get("const"), f"{where} arg {k}", "const")))
        if not any(a.stream is not None for a in args):
            raise _fail(where, "needs at least one stream argument")
        deepest = max(
            (self.streams[a.stream].tu for a in args if a.stream is not None),
            key=lambda t: len(self.ancestors(t)),
        )
        if deepest != tu:
            raise _fail(where, f"belongs to TU {deepest} (its deepest argument), not TU {tu}")
        if op == "alu":
            if d.get("fn") not in ALU_FNS or len(args) != 2:
                raise _fail(where, f"needs fn in {ALU_FNS} and two args")
            return Stream(i, "alu", tu, tuple(args), fn=d["fn"]), "int64"
        if op != "load":
            raise _fail(where, "op must be one of iv, load, alu, buffer")
        m = self.memrefs.get(d.get("memref"))
        if m is None:
            raise _fail(where, f"unknown memref {d.get('memref')!r}")
        if m.output:
            raise _fail(where, f"memref {m.name!r} is an output; the access side only reads inputs")
        if len(args) != len(m.shape):
            raise _fail(where, f"{m.name} has rank {len(m.shape)} but {len(args)} indices")
        nontemporal, contiguous = d.get("nontemporal", False), d.get("contiguous", False)
        if not isinstance(nontemporal, bool) or not isinstance(contiguous, bool):
            raise _fail(where, "nontemporal and contiguous must be booleans")
        if contiguous:
            t = self.tus[tu]
            last = args[-1].stream
            if (
                t.lanes == 1
                or last is None
                or self.streams[last].op != "iv"
                or self.streams[last].tu != tu
                or t.step != 1
            ):
                raise _fail(
                    where,
                    "contiguous loads need the vector TU's own induction"
                    " variable (step 1) as the last index",
                )
            for a in args[:-1]:
                if a.stream is not None and self.streams[a.stream].tu == tu:
                    raise _fail(where, "contiguous loads may vary only in the last index")
        s = Stream(
            i,
            "load",
            tu,
            tuple(args),
            memref=m.name,
            nontemporal=nontemporal,
            contiguous=contiguous,
        )
        return s, MEMREF_DTYPES[m.dtype]

    def registration(self, i: int, raw: Any, case_ids: set[int]) -> Registration:
        where = f"registration {i}"
        d = _table(raw, where)
        tu = _int(d.get("tu"), where, "tu", minimum=0)
        if tu >= len(self.tus):
            raise _fail(where, f"unknown TU {tu}")
        try:
            event = Event(d.get("event"))
        except ValueError:
            raise _fail(where, f"event must be beg, ite or end, got {d.get('event')!r}") from None
        where = f"registration {i} (TU {tu} {event.value})"
        if ("stream" in d) == ("case" in d):
            raise _fail(where, "needs exactly one of 'stream' (operand) or 'case' (token)")
        if "case" in d:
            case = _int(d["case"], where, "case", minimum=0, maximum=MAX_NODES - 1)
            if case not in case_ids:
                raise _fail(where, f"token for case {case}, which the compute loop lacks")
            return Registration(tu, event, case=case)
        sid = self.stream_ref(d["stream"], where)
        s = self.streams[sid]
        if s.op == "buffer":
            if event is not Event.END or self.streams[s.source].tu != tu:
                raise _fail(
                    where,
                    f"buffer stream {sid} can only be pushed on the end event"
                    f" of TU {self.streams[s.source].tu}, whose fiber fills it",
                )
        elif event is Event.ITE:
            if s.tu not in self.ancestors(tu):
                raise _fail(
                    where, f"stream {sid} belongs to TU {s.tu}, not to TU {tu} or an enclosing TU"
                )
        elif s.tu not in self.ancestors(self.tus[tu].parent):
            raise _fail(
                where,
                f"on {event.value} only streams of enclosing TUs (constant"
                f" over the fiber) can be pushed; stream {sid} belongs to TU {s.tu}",
            )
        return Registration(tu, event, stream=sid)

    def case(self, raw: Any, counters: int) -> Case:
        d = _table(raw, "case")
        cid = _int(d.get("id"), "case", "id", minimum=0, maximum=MAX_NODES - 1)
        name = d.get("name", f"case{cid}")
        if not isinstance(name, str):
            raise _fail(f"case {cid}", "name must be a string")
        where = f"case {cid} ({name})"
        types: dict[int, tuple[str, Form, Length]] = {}
        ops = []
        for k, raw_op in enumerate(_list(d, "ops", where)):
            op = OpChecker(self, types, counters, f"{where} op {k}").check(raw_op)
            ops.append(op)
        return Case(cid, name, tuple(ops))

    def program(self) -> Program:
        self.header()
        memrefs = tuple(
            self.memref(i, m) for i, m in enumerate(_list(self.ir, "memrefs", "program"))
        )
        self._interleave(_list(self.ir, "tus", "program"), _list(self.ir, "streams", "program"))
        counters = []
        for i, raw in enumerate(_list(self.ir, "counters", "program")):
            c = _table(raw, f"counter {i}")
            if c.get("id") != i:
                raise _fail(f"counter {i}", "ids must count up from 0 in order")
            counters.append(Counter(i, _int(c.get("init", 0), f"counter {i}", "init")))
        cases = [self.case(raw, len(counters)) for raw in _list(self.ir, "cases", "program")]
        ids = [c.id for c in cases]
        if len(set(ids)) != len(ids):
            raise _fail("compute loop", f"duplicate case ids {ids}")
        regs = tuple(
            self.registration(i, r, set(ids))
            for i, r in enumerate(_list(self.ir, "registrations", "program"))
        )
        returns = _list(self.ir, "returns", "program")
        outputs = {m.name for m in memrefs if m.output}
        if not returns or any(r not in outputs for r in returns):
            raise _fail(
                "program", f"must return output memrefs (of {sorted(outputs)}), got {returns}"
            )
        return Program(
            memrefs,
            tuple(self.tus),
            tuple(self.streams),
            regs,
            tuple(counters),
            tuple(cases),
            tuple(returns),
            dict(self.dims),
        )

    def _interleave(self, raw_tus: list, raw_streams: list) -> None:
        """TUs and streams refer to each other (bounds from streams, streams of TUs):
        each stream must only need earlier TUs and each TU earlier streams."""
        ti = si = 0
        while ti < len(raw_tus) or si < len(raw_streams):
            if si < len(raw_streams):
                d = raw_streams[si]
                need = _needed_tu(d)
                if need is None or need < ti:
                    s, dtype = self.stream(si, d)
                    self.streams.append(s)
                    self.stream_dtype.append(dtype)
                    si += 1
                    continue
            if ti >= len(raw_tus):
                raise _fail(f"stream {si}", "refers to a TU that is not defined")
            self.tus.append(self.tu(ti, raw_tus[ti]))
            ti += 1


def _needed_tu(d: Any) -> int | None:
    if isinstance(d, dict) and isinstance(d.get("tu"), int):
        return d["tu"]
    return None


class OpChecker:
    """Type rules of execute-side ops: (dtype, form, length) of each result."""

    def __init__(self, c: Checker, types: dict, counters: int, where: str) -> None:
        self.c, self.types, self.counters, self.where = c, types, counters, where

    def arg(self, v: Any) -> tuple[str, Form, Length]:
        if not isinstance(v, int) or v not in self.types:
            raise _fail(self.where, f"argument {v!r} is not a value defined earlier in the case")
        return self.types[v]

    def combine(self, ts: list[tuple[str, Form, Length]]) -> tuple[Form, Length]:
        shaped = {(f, n) for _, f, n in ts if f is not Form.SCALAR}
        if len(shaped) > 1:
            raise _fail(self.where, f"operands of different shapes {sorted(map(str, shaped))}")
        return next(iter(shaped)) if shaped else (Form.SCALAR, 1)

    def check(self, raw: Any) -> Op:
        d = _table(raw, self.where)
        kind = d.get("op")
        self.where = f"{self.where} ({kind})"
        args = d.get("args", [])
        if not isinstance(args, list):
            raise _fail(self.where, "args must be a list")
        ts = [self.arg(a) for a in args]
        result: tuple[str, Form, Length] | None = None
        op: Op
        if kind == "pop":
            dtype, form = d.get("dtype"), d.get("form")
            if dtype not in DTYPES or form not in {f.value for f in Form}:
                raise _fail(self.where, f"needs dtype in {DTYPES} and form scalar|vector|buffer")
            form = Form(form)
            length: Length = {Form.SCALAR: 1, Form.VECTOR: LANES}.get(form) or self.c.length(
                d.get("length"), self.where
            )
            op = Op("pop", dtype=dtype, form=form, length=length)
            result = (dtype, form, length)
        elif kind == "const":
            value, dtype = d.get("value"), d.get("dtype")
            if (
                dtype not in DTYPES
                or not isinstance(value, (int, float))
                or isinstance(value, bool)
            ):
                raise _fail(self.where, "needs a numeric value and dtype int64|float32")
            if dtype == "int64":
                if not isinstance(value, int):
                    raise _fail(self.where, "int64 constants must be ints")
                _int(value, self.where, "value")
            elif not (math.isfinite(value) and abs(value) <= MAX_FLOAT):
                raise _fail(
                    self.where,
                    f"float32 value must be finite and within ±{MAX_FLOAT:.4g}, got {_show(value)}",
                )
            op = Op("const", value=value, dtype=dtype)
            result = (dtype, Form.SCALAR, 1)
        elif kind == "arange":
            n = self.c.length(d.get("length"), self.where)
            op = Op("arange", length=n)
            result = ("int64", Form.BUFFER, n)
        elif kind in ("get", "increment"):
            counter = _int(d.get("counter"), self.where, "counter", minimum=0)
            if counter >= self.counters:
                raise _fail(self.where, f"unknown counter {counter}")
            if kind == "get":
                op, result = Op("get", counter=counter), ("int64", Form.SCALAR, 1)
            else:
                op = Op("increment", counter=counter, by=_int(d.get("by", 1), self.where, "by"))
        elif kind == "binary":
            if d.get("fn") not in BINARY_FNS or len(ts) != 2:
                raise _fail(self.where, f"needs fn in {BINARY_FNS} and two args")
            form, n = self.combine(ts)
            dtype = "float32" if any(t[0] == "float32" for t in ts) else "int64"
            op, result = Op("binary", fn=d["fn"]), (dtype, form, n)
        elif kind in ("load", "store", "accumulate"):
            m = self.c.memrefs.get(d.get("memref"))
            if m is None:
                raise _fail(self.where, f"unknown memref {d.get('memref')!r}")
            rank = len(m.shape)
            if kind == "load" and m.output:
                raise _fail(
                    self.where,
                    f"{m.name!r} is an output: callbacks may load inputs"
                    " only (use accumulate for read-modify-write)",
                )
            if kind != "load" and not m.output:
                raise _fail(self.where, f"{m.name!r} is an input; only outputs are written")
            nidx = len(ts) if kind == "load" else len(ts) - 1
            if nidx != rank:
                raise _fail(self.where, f"{m.name} has rank {rank} but {nidx} indices")
            if any(t[0] != "int64" for t in ts[:rank]):
                raise _fail(self.where, "indices must be int64 values")
            form, n = self.combine(ts)
            mdtype = MEMREF_DTYPES[m.dtype]
            fn = None
            if kind != "load" and ts[-1][0] != mdtype:
                raise _fail(self.where, f"value is {ts[-1][0]} but {m.name} holds {mdtype}")
            if kind == "accumulate":
                fn = d.get("fn")
                if fn not in ACCUMULATE_FNS:
                    raise _fail(self.where, f"fn must be one of {ACCUMULATE_FNS}")
            op = Op(kind, memref=m.name, fn=fn)
            if kind == "load":
                result = (mdtype, form, n)
        else:
            raise _fail(self.where, f"unknown op {kind!r}")
        vid = d.get("id")
        if result is not None:
            vid = _int(vid, self.where, "id", minimum=0, maximum=MAX_NODES - 1)
            if vid in self.types:
                raise _fail(self.where, f"value id {vid} defined twice")
            self.types[vid] = result
        elif vid is not None:
            raise _fail(self.where, "this op has no result; id must be absent")
        return replace(op, id=vid, args=tuple(args))


def load_ir(ir: Any) -> Program:
    """Parse and validate untrusted IR into a `Program` (raises `ValidationError`)."""
    if not isinstance(ir, dict):
        raise ValidationError(f"program: IR must be an object, got {type(ir).__name__}")
    try:
        return Checker(ir).program()
    except ValidationError:
        raise
    except (TypeError, KeyError, ValueError, IndexError) as exc:
        raise ValidationError(f"program: malformed IR ({type(exc).__name__}: {exc})") from None
