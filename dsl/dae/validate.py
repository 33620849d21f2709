"""Parse and check untrusted DAE IR (the JSON that leaves the sandbox).

Every rule of the dialect that can be checked without data is checked here, and each
failure names the node (TU, stream, registration, case, op) and what disagreed. Every number
has a range (`MAX_INT`, `MAX_LENGTH`, `MAX_LANES`, finite float32 constants), so nothing a
program writes into its IR can overflow, round to infinity or size an allocation on the
trusted side. Rules that need data (queue protocol, deadlock, bounds of loads) are the
interpreter's, and what the target's hardware has is its budget's (interpreter.dae.resources).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

# Importing the declarations registers every op (access side first: the registry's order).
# isort: off
import dsl.dae.ops_access  # noqa: F401
import dsl.dae.ops_execute  # noqa: F401

# isort: on
from dsl.dae.checks import (
    MAX_LANES,
    MAX_LENGTH,
    MAX_NODES,
    MEMREF_DTYPES,
    as_list,
    as_table,
    fail,
    int_in,
)
from dsl.dae.ir import (
    LANES,
    TU,
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
    StreamNode,
)
from dsl.dae.ops import ACCESS, EXECUTE, names, spec_of
from dsl.dae.ops_execute import ValueType
from dsl.errors import ValidationError

SECTIONS = ("dims", "memrefs", "tus", "streams", "registrations", "counters", "cases", "returns")
"""The top-level keys of DAE IR (besides the shared header); any other key is refused."""


class Checker:
    """Builds a `Program` node by node, checking each against the ones before it. The
    builder drives the same checker as it records calls, so build-time and load-time
    rules cannot drift apart."""

    def __init__(self, ir: dict) -> None:
        self.ir = ir
        self.dims: dict[str, int | None] = {}
        self.memrefs: dict[str, Memref] = {}
        self.tus: list[TU] = []
        self.streams: list[StreamNode] = []
        self.stream_dtype: list[str] = []

    # -- helpers ------------------------------------------------------------------
    def length(self, value: Any, where: str) -> Length:
        if isinstance(value, str):
            if value not in self.dims:
                raise fail(where, f"length names unknown dim {value!r}")
            return value
        return int_in(value, where, "length", minimum=1, maximum=MAX_LENGTH)

    def ancestors(self, tu: int | None) -> list[int]:
        """`tu` and its enclosing TUs, innermost first."""
        chain = []
        while tu is not None:
            chain.append(tu)
            tu = self.tus[tu].parent
        return chain

    def stream_ref(self, value: Any, where: str) -> int:
        sid = int_in(value, where, "stream id", minimum=0)
        if sid >= len(self.streams):
            raise fail(where, f"refers to stream {sid}, which is not defined before it")
        return sid

    # -- sections -----------------------------------------------------------------
    def header(self) -> None:
        Program.check_header(self.ir, SECTIONS)
        dims = as_table(self.ir.get("dims", {}), "dims")
        for k, v in dims.items():
            if not isinstance(k, str) or not k.isidentifier():
                raise fail("dims", f"bad dim name {k!r}")
            if v is not None:
                int_in(v, f"dim {k}", "value", minimum=0)
            self.dims[k] = v

    def memref(self, i: int, raw: Any) -> Memref:
        d = as_table(raw, f"memref {i}")
        name = d.get("name")
        where = f"memref {name!r}"
        if not isinstance(name, str) or not name.isidentifier() or name in self.memrefs:
            raise fail(f"memref {i}", f"name must be a new identifier, got {name!r}")
        if d.get("dtype") not in MEMREF_DTYPES:
            raise fail(where, f"dtype must be one of {sorted(MEMREF_DTYPES)}")
        shape = d.get("shape")
        if not isinstance(shape, list) or not shape:
            raise fail(where, "shape must be a non-empty list")
        dims = tuple(
            self.length(s, where)
            if isinstance(s, str)
            else int_in(s, where, "shape entry", minimum=0)
            for s in shape
        )
        if not isinstance(d.get("output"), bool):
            raise fail(where, "'output' must be true or false")
        m = Memref(name, d["dtype"], dims, d["output"])
        self.memrefs[name] = m
        return m

    def bound(self, raw: Any, where: str, parent: int | None) -> Bound:
        d = as_table(raw, where)
        if "stream" in d:
            sid = self.stream_ref(d["stream"], where)
            s = self.streams[sid]
            if s.tu is None or s.tu not in self.ancestors(parent):
                raise fail(where, f"bound stream {sid} must belong to an enclosing TU")
            if self.stream_dtype[sid] != "int64" or self.tus[s.tu].lanes > 1 or s.op == "buffer":
                raise fail(where, f"bound stream {sid} must be a scalar integer stream")
            return Bound(stream=sid)
        if "dim" in d:
            if d["dim"] not in self.dims:
                raise fail(where, f"unknown dim {d['dim']!r}")
            return Bound(dim=d["dim"])
        return Bound(const=int_in(d.get("const"), where, "const bound", minimum=0))

    def tu(self, i: int, raw: Any) -> TU:
        where = f"TU {i}"
        d = as_table(raw, where)
        if d.get("id") != i:
            raise fail(where, f"ids must count up from 0 in order, got {d.get('id')!r}")
        parent = d.get("parent")
        if parent is not None:
            parent = int_in(parent, where, "parent", minimum=0)
            if parent >= i:
                raise fail(where, f"parent {parent} must be defined before it")
            if self.tus[parent].lanes > 1:
                raise fail(where, f"parent TU {parent} is vectorised; vector TUs must be innermost")
        lanes = int_in(d.get("lanes", 1), where, "lanes", minimum=1, maximum=MAX_LANES)
        if lanes != 1 and lanes % LANES:
            raise fail(where, f"lanes must be 1 or a multiple of {LANES}, got {lanes}")
        step = int_in(d.get("step", 1), where, "step", minimum=1)
        t = TU(
            i,
            parent,
            self.bound(d.get("lo"), f"{where} lo", parent),
            self.bound(d.get("hi"), f"{where} hi", parent),
            step,
            lanes,
        )
        return t

    def stream(self, i: int, raw: Any) -> tuple[StreamNode, str]:
        """The stream node `raw` and its values' dtype, by its op's rule."""
        d = as_table(raw, f"stream {i}")
        op = d.get("op")
        where = f"stream {i} ({op})"
        if d.get("id") != i:
            raise fail(where, f"ids must count up from 0 in order, got {d.get('id')!r}")
        spec = spec_of(ACCESS, op)
        if spec is None:
            raise fail(where, f"op must be one of {', '.join(names(ACCESS))}")
        return spec.rule(self, i, d, where)

    def stream_tu(self, d: dict, where: str) -> int:
        """The TU a stream node names (defined before it)."""
        tu = int_in(d.get("tu"), where, "tu", minimum=0)
        if tu >= len(self.tus):
            raise fail(where, f"unknown TU {tu}")
        return tu

    def stream_args(self, d: dict, tu: int, where: str) -> tuple[Ref, ...]:
        """Integer operands of a stream of `tu`: streams of it or of enclosing TUs, ints and
        dims; the deepest stream argument's TU must be `tu`, so every value has one owner."""
        args = []
        for k, a in enumerate(as_list(d, "args", where)):
            a = as_table(a, f"{where} arg {k}")
            if "stream" in a:
                sid = self.stream_ref(a["stream"], f"{where} arg {k}")
                s = self.streams[sid]
                if s.op == "buffer" or s.tu not in self.ancestors(tu):
                    raise fail(
                        where,
                        f"arg {k}: stream {sid} is not a stream of TU {tu} or an enclosing TU",
                    )
                if self.stream_dtype[sid] != "int64":
                    raise fail(
                        where,
                        f"arg {k}: stream {sid} is {self.stream_dtype[sid]};"
                        " indices and ALU operands must be integers",
                    )
                args.append(Ref(stream=sid))
            elif "dim" in a:
                if a["dim"] not in self.dims:
                    raise fail(where, f"arg {k}: unknown dim {a['dim']!r}")
                args.append(Ref(dim=a["dim"]))
            else:
                args.append(Ref(const=int_in(a.get("const"), f"{where} arg {k}", "const")))
        if not any(a.stream is not None for a in args):
            raise fail(where, "needs at least one stream argument")
        deepest = max(
            (self.streams[a.stream].tu for a in args if a.stream is not None),
            key=lambda t: len(self.ancestors(t)),
        )
        if deepest != tu:
            raise fail(where, f"belongs to TU {deepest} (its deepest argument), not TU {tu}")
        return tuple(args)

    def registration(self, i: int, raw: Any, case_ids: set[int]) -> Registration:
        where = f"registration {i}"
        d = as_table(raw, where)
        tu = int_in(d.get("tu"), where, "tu", minimum=0)
        if tu >= len(self.tus):
            raise fail(where, f"unknown TU {tu}")
        try:
            event = Event(d.get("event"))
        except ValueError:
            raise fail(where, f"event must be beg, ite or end, got {d.get('event')!r}") from None
        where = f"registration {i} (TU {tu} {event.value})"
        if ("stream" in d) == ("case" in d):
            raise fail(where, "needs exactly one of 'stream' (operand) or 'case' (token)")
        if "case" in d:
            case = int_in(d["case"], where, "case", minimum=0, maximum=MAX_NODES - 1)
            if case not in case_ids:
                raise fail(where, f"token for case {case}, which the compute loop lacks")
            return Registration(tu, event, case=case)
        sid = self.stream_ref(d["stream"], where)
        s = self.streams[sid]
        if s.op == "buffer":
            if event is not Event.END or self.streams[s.source].tu != tu:
                raise fail(
                    where,
                    f"buffer stream {sid} can only be pushed on the end event"
                    f" of TU {self.streams[s.source].tu}, whose fiber fills it",
                )
        elif event is Event.ITE:
            if s.tu not in self.ancestors(tu):
                raise fail(
                    where, f"stream {sid} belongs to TU {s.tu}, not to TU {tu} or an enclosing TU"
                )
        elif s.tu not in self.ancestors(self.tus[tu].parent):
            raise fail(
                where,
                f"on {event.value} only streams of enclosing TUs (constant"
                f" over the fiber) can be pushed; stream {sid} belongs to TU {s.tu}",
            )
        return Registration(tu, event, stream=sid)

    def case(self, raw: Any, counters: int) -> Case:
        d = as_table(raw, "case")
        cid = int_in(d.get("id"), "case", "id", minimum=0, maximum=MAX_NODES - 1)
        name = d.get("name", f"case{cid}")
        if not isinstance(name, str) or not name.isidentifier():  # it reaches the feedback
            raise fail(f"case {cid}", f"name must be an identifier, got {name!r:.40}")
        where = f"case {cid} ({name})"
        types: dict[int, ValueType] = {}
        counted: set[int] = set()
        ops = []
        for k, raw_op in enumerate(as_list(d, "ops", where)):
            op = OpChecker(self, types, counters, f"{where} op {k}", counted).check(raw_op)
            ops.append(op)
        return Case(cid, name, tuple(ops))

    def program(self) -> Program:
        self.header()
        memrefs = tuple(
            self.memref(i, m) for i, m in enumerate(as_list(self.ir, "memrefs", "program"))
        )
        self._interleave(as_list(self.ir, "tus", "program"), as_list(self.ir, "streams", "program"))
        counters = []
        for i, raw in enumerate(as_list(self.ir, "counters", "program")):
            c = as_table(raw, f"counter {i}")
            if c.get("id") != i:
                raise fail(f"counter {i}", "ids must count up from 0 in order")
            counters.append(Counter(i, int_in(c.get("init", 0), f"counter {i}", "init")))
        cases = [self.case(raw, len(counters)) for raw in as_list(self.ir, "cases", "program")]
        ids = [c.id for c in cases]
        if len(set(ids)) != len(ids):
            raise fail("compute loop", f"duplicate case ids {ids}")
        regs = tuple(
            self.registration(i, r, set(ids))
            for i, r in enumerate(as_list(self.ir, "registrations", "program"))
        )
        returns = as_list(self.ir, "returns", "program")
        outputs = {m.name for m in memrefs if m.output}
        if not returns or any(r not in outputs for r in returns):
            raise fail(
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
                raise fail(f"stream {si}", "refers to a TU that is not defined")
            self.tus.append(self.tu(ti, raw_tus[ti]))
            ti += 1


def _needed_tu(d: Any) -> int | None:
    if isinstance(d, dict) and isinstance(d.get("tu"), int):
        return d["tu"]
    return None


class OpChecker:
    """Type rules of execute-side ops: (dtype, form, length) of each result."""

    def __init__(
        self, c: Checker, types: dict, counters: int, where: str, counted: set[int] | None = None
    ) -> None:
        self.c, self.types, self.counters, self.where = c, types, counters, where
        # Ids of the case's values computed from a counter's `get` (a runtime increment may
        # not use them), shared like `types` by the checkers of one case.
        self.counted = set() if counted is None else counted

    def arg(self, v: Any) -> ValueType:
        if not isinstance(v, int) or v not in self.types:
            raise fail(self.where, f"argument {v!r} is not a value defined earlier in the case")
        return self.types[v]

    def combine(self, ts: list[ValueType]) -> tuple[Form, Length]:
        shaped = {(f, n) for _, f, n in ts if f is not Form.SCALAR}
        if len(shaped) > 1:
            raise fail(self.where, f"operands of different shapes {sorted(map(str, shaped))}")
        return next(iter(shaped)) if shaped else (Form.SCALAR, 1)

    def check(self, raw: Any) -> Op:
        """The op `raw`, checked by its kind's rule; records its result's type."""
        d = as_table(raw, self.where)
        kind = d.get("op")
        self.where = f"{self.where} ({kind})"
        args = d.get("args", [])
        if not isinstance(args, list):
            raise fail(self.where, "args must be a list")
        ts = [self.arg(a) for a in args]
        spec = spec_of(EXECUTE, kind)
        if spec is None:
            raise fail(self.where, f"unknown op {kind!r}")
        op, result = spec.rule(self, d, ts)
        vid = d.get("id")
        if result is not None:
            vid = int_in(vid, self.where, "id", minimum=0, maximum=MAX_NODES - 1)
            if vid in self.types:
                raise fail(self.where, f"value id {vid} defined twice")
            self.types[vid] = result
            if kind == "get" or any(a in self.counted for a in args):
                self.counted.add(vid)
        elif vid is not None:
            raise fail(self.where, "this op has no result; id must be absent")
        return replace(op, id=vid, args=tuple(args))

    # -- helpers of the op rules (dsl.dae.ops_execute) ----------------------------------
    def memref(self, d: dict) -> Memref:
        m = self.c.memrefs.get(d.get("memref"))
        if m is None:
            raise fail(self.where, f"unknown memref {d.get('memref')!r}")
        return m

    def counter(self, d: dict) -> int:
        counter = int_in(d.get("counter"), self.where, "counter", minimum=0)
        if counter >= self.counters:
            raise fail(self.where, f"unknown counter {counter}")
        return counter

    def indices(self, m: Memref, ts: list[ValueType], count: int) -> None:
        """The first `count` arguments index `m`: one int64 value per dimension."""
        rank = len(m.shape)
        if count != rank:
            raise fail(self.where, f"{m.name} has rank {rank} but {count} indices")
        if any(t[0] != "int64" for t in ts[:rank]):
            raise fail(self.where, "indices must be int64 values")

    def written(self, d: dict, ts: list[ValueType]) -> Memref:
        """The output a store-like op writes: indices, then a value of the output's dtype."""
        m = self.memref(d)
        if not m.output:
            raise fail(self.where, f"{m.name!r} is an input; only outputs are written")
        self.indices(m, ts, len(ts) - 1)
        self.combine(ts)
        mdtype = MEMREF_DTYPES[m.dtype]
        if ts[-1][0] != mdtype:
            raise fail(self.where, f"value is {ts[-1][0]} but {m.name} holds {mdtype}")
        return m


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
