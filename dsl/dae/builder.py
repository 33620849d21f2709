"""The Python surface agents write DAE programs in (an SLC-like authoring form).

Loops (`loop`), streams (`load`, arithmetic on streams, `buffer`) and callbacks
(`callback`) read like nested Python; each call appends IR nodes in DLC form: a callback
becomes operand registrations on its event, a control token, and a case whose first ops pop
those operands. Every node is checked as it is made, by the same rules `load_ir` applies, so
mistakes surface at the user's line as `ProgramError`.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dsl.dae.checks import show
from dsl.dae.ir import LANES, Event, Form
from dsl.dae.ops import EXECUTE, spec_of
from dsl.dae.validate import Checker, OpChecker
from dsl.errors import ProgramError, ValidationError

_CURRENT: contextvars.ContextVar[_Builder | None] = contextvars.ContextVar("dae", default=None)


@dataclass(frozen=True)
class Dim:
    """A named dimension of the task. A symbolic dim's value is chosen at check time (the
    program must work for all); a static one's is fixed by the task and readable as
    `.value` or `int(dim)` (Python-side sizes: unrolling, buffer lengths)."""

    name: str
    size: int | None = field(default=None, compare=False)

    @property
    def value(self) -> int:
        if self.size is None:
            raise ProgramError(
                f"dim {self.name!r} is symbolic: its value is chosen at check time, so the"
                " program cannot read it (use the dim itself as a loop bound or length)"
            )
        return self.size

    def __index__(self) -> int:
        return self.value


@dataclass(frozen=True)
class Memref:
    """An input or output array, as the kernel sees it."""

    name: str
    dtype: str
    shape: tuple[Dim | int, ...]
    output: bool

    @property
    def rank(self) -> int:
        return len(self.shape)


class Stream:
    """An access-side stream: one value per iteration of its TU (vector if the TU has lanes)."""

    def __init__(self, b: _Builder, sid: int) -> None:
        self._b, self.id = b, sid

    def _alu(self, fn: str, other: Any, swap: bool = False) -> Stream:
        args = (other, self) if swap else (self, other)
        return self._b.alu(fn, *args)

    def __add__(self, o: Any) -> Stream:
        return self._alu("add", o)

    def __radd__(self, o: Any) -> Stream:
        return self._alu("add", o, True)

    def __sub__(self, o: Any) -> Stream:
        return self._alu("sub", o)

    def __rsub__(self, o: Any) -> Stream:
        return self._alu("sub", o, True)

    def __mul__(self, o: Any) -> Stream:
        return self._alu("mul", o)

    def __rmul__(self, o: Any) -> Stream:
        return self._alu("mul", o, True)

    def __floordiv__(self, o: Any) -> Stream:
        return self._alu("div", o)

    def __rfloordiv__(self, o: Any) -> Stream:
        return self._alu("div", o, True)

    def __bool__(self) -> bool:
        raise ProgramError(
            "a stream has no truth value while the program is built; use"
            " loop bounds or callbacks instead of Python if/while"
        )


class Loop(Stream):
    """A traversal unit; used as a stream it is its induction variable."""

    def __init__(self, b: _Builder, sid: int, tu: int, lanes: int) -> None:
        super().__init__(b, sid)
        self.tu, self.lanes = tu, lanes


class Value:
    """An execute-side value inside a callback: scalar, vector (8 lanes) or buffer (row)."""

    def __init__(self, b: _Builder, vid: int, dtype: str, form: Form, length: Any) -> None:
        self._b, self.id, self.dtype, self.form, self.length = b, vid, dtype, form, length

    def _bin(self, fn: str, other: Any, swap: bool = False) -> Value:
        return self._b.binary(fn, *((other, self) if swap else (self, other)))

    def __add__(self, o: Any) -> Value:
        return self._bin("add", o)

    def __radd__(self, o: Any) -> Value:
        return self._bin("add", o, True)

    def __sub__(self, o: Any) -> Value:
        return self._bin("sub", o)

    def __rsub__(self, o: Any) -> Value:
        return self._bin("sub", o, True)

    def __mul__(self, o: Any) -> Value:
        return self._bin("mul", o)

    def __rmul__(self, o: Any) -> Value:
        return self._bin("mul", o, True)

    def __truediv__(self, o: Any) -> Value:
        return self._true_div(o, False)

    def __rtruediv__(self, o: Any) -> Value:
        return self._true_div(o, True)

    def __floordiv__(self, o: Any) -> Value:
        return self._bin("div", o)

    def __rfloordiv__(self, o: Any) -> Value:
        return self._bin("div", o, True)

    # Comparisons give int64 0/1 values (for `dae.where`); `==`/`!=` stay Python's
    # identity tests, so use `dae.equal` / `dae.not_equal` for those.
    def __lt__(self, o: Any) -> Value:
        return self._b.compute("compare", (self, o), "comparison (<)", fn="lt")

    def __le__(self, o: Any) -> Value:
        return self._b.compute("compare", (self, o), "comparison (<=)", fn="le")

    def __gt__(self, o: Any) -> Value:
        return self._b.compute("compare", (self, o), "comparison (>)", fn="gt")

    def __ge__(self, o: Any) -> Value:
        return self._b.compute("compare", (self, o), "comparison (>=)", fn="ge")

    def _true_div(self, o: Any, swap: bool) -> Value:
        other_int = isinstance(o, int) or (isinstance(o, Value) and o.dtype == "int64")
        if self.dtype == "int64" and other_int:
            raise ProgramError(
                "`/` of two integers: use `//` for floor division, or make"
                " one side float (`n * 1.0`)"
            )
        return self._bin("div", o, swap)

    def __bool__(self) -> bool:
        raise ProgramError(
            "an execute-side value has no truth value at build time; use"
            " dae.where, minimum/maximum or separate callbacks instead of if/while"
        )


class Counter:
    """An execute-side integer counter (Ember's get_var / increment_var)."""

    def __init__(self, b: _Builder, cid: int) -> None:
        self._b, self.id = b, cid

    def get(self) -> Value:
        return self._b.counter_op("get", self.id)

    def increment(self, by: int | Value = 1) -> None:
        """Add `by`: an int fixed in the program, or an int64 scalar value of the callback
        (a popped operand, say a segment's length), which must be >= 0 when it runs."""
        if isinstance(by, Value):
            self._b.compute("increment", (by,), "counter increment", counter=self.id)
        elif isinstance(by, int) and not isinstance(by, bool):
            self._b.counter_op("increment", self.id, by)
        else:
            raise ProgramError(
                "counter increment: `by` must be an int or an int64 scalar value of the"
                f" callback, got {type(by).__name__}"
                + (" (a stream reaches a callback as an operand)" if isinstance(by, Stream) else "")
            )


class _Builder:
    """The program under construction, checked node by node."""

    def __init__(self, signature: dict) -> None:
        self.check = Checker({})
        self.check.dims = dict(signature.get("dims") or {})
        self.ir: dict[str, list] = {
            k: [] for k in ("memrefs", "tus", "streams", "registrations", "counters", "cases")
        }
        self.stack: list[Loop] = []
        self.case: dict | None = None
        self.case_types: dict[int, tuple] = {}
        self.case_counted: set[int] = set()  # values of the open case read from counters
        self.handles: dict[str, Memref] = {}
        for spec, output in [(s, False) for s in signature.get("inputs", [])] + [
            (s, True) for s in signature.get("outputs", [])
        ]:
            self._memref(spec, output)

    # -- plumbing -------------------------------------------------------------------
    def _memref(self, spec: dict, output: bool) -> None:
        raw = {
            "name": spec["name"],
            "dtype": spec["dtype"],
            "shape": list(spec["shape"]),
            "output": output,
        }
        m = self._checked(lambda: self.check.memref(len(self.ir["memrefs"]), raw))
        self.ir["memrefs"].append(raw)
        static = self.check.dims
        shape = tuple(Dim(s, static.get(s)) if isinstance(s, str) else s for s in m.shape)
        self.handles[m.name] = Memref(m.name, m.dtype, shape, output)

    @staticmethod
    def _checked(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except ValidationError as exc:
            raise ProgramError(exc.reason, where=exc.where) from None

    def _ref(self, x: Any, what: str) -> dict:
        if isinstance(x, Stream):
            if x._b is not self:
                raise ProgramError(f"{what}: stream from another program")
            return {"stream": x.id}
        if isinstance(x, int) and not isinstance(x, bool):
            return {"const": x}
        if isinstance(x, Dim):
            return {"dim": x.name}
        raise ProgramError(f"{what}: expected a stream, an int or a dim, got {type(x).__name__}")

    def _access_side(self, what: str) -> None:
        if self.case is not None:
            raise ProgramError(
                f"{what} builds the access side and cannot be called inside a callback"
            )

    def _add_stream(self, raw: dict) -> int:
        sid = len(self.ir["streams"])
        raw["id"] = sid
        tu = raw.get("tu")
        if raw["op"] != "iv" and tu is not None and tu not in {lp.tu for lp in self.stack}:
            raise ProgramError(
                f"stream {sid} ({raw['op']}) needs TU {tu}, whose loop is already closed"
            )
        s, dtype = self._checked(lambda: self.check.stream(sid, raw))
        self.check.streams.append(s)
        self.check.stream_dtype.append(dtype)
        self.ir["streams"].append(raw)
        return sid

    def _deepest(self, refs: list[dict]) -> int:
        tus = [self.check.streams[r["stream"]].tu for r in refs if "stream" in r]
        if not tus:
            raise ProgramError("an access-side op needs at least one stream argument")
        return max(tus, key=lambda t: len(self.check.ancestors(t)))

    # -- access side ------------------------------------------------------------------
    @contextlib.contextmanager
    def loop(self, lo: Any, hi: Any, step: int = 1, lanes: int = 1) -> Iterator[Loop]:
        self._access_side("loop")
        tid = len(self.ir["tus"])
        raw = {
            "id": tid,
            "parent": self.stack[-1].tu if self.stack else None,
            "lo": self._bound(lo, "loop lo"),
            "hi": self._bound(hi, "loop hi"),
            "step": step,
            "lanes": lanes,
        }
        t = self._checked(lambda: self.check.tu(tid, raw))
        self.check.tus.append(t)
        self.ir["tus"].append(raw)
        handle = Loop(self, self._add_stream({"op": "iv", "tu": tid}), tid, lanes)
        self.stack.append(handle)
        try:
            yield handle
        finally:
            self.stack.pop()

    def _bound(self, x: Any, what: str) -> dict:
        return self._ref(x, what)

    def alu(self, fn: str, a: Any, b: Any) -> Stream:
        self._access_side(f"stream arithmetic ({fn})")
        refs = [self._ref(a, fn), self._ref(b, fn)]
        return Stream(
            self, self._add_stream({"op": "alu", "fn": fn, "args": refs, "tu": self._deepest(refs)})
        )

    def load_stream(self, mem: Memref, idx: tuple, nontemporal: bool, contiguous: bool) -> Stream:
        refs = [self._ref(i, f"load {mem.name} index {k}") for k, i in enumerate(idx)]
        raw = {
            "op": "load",
            "memref": mem.name,
            "args": refs,
            "tu": self._deepest(refs),
            "nontemporal": nontemporal,
            "contiguous": contiguous,
        }
        return Stream(self, self._add_stream(raw))

    def buffer(self, s: Stream) -> Stream:
        self._access_side("buffer")
        if not isinstance(s, Stream):
            raise ProgramError(f"buffer needs a stream, got {type(s).__name__}")
        src = self.check.streams[s.id]
        raw = {
            "op": "buffer",
            "source": s.id,
            "tu": None if src.tu is None else self.check.tus[src.tu].parent,
        }
        if raw["tu"] is None:
            raw.pop("tu")
        sid = len(self.ir["streams"])
        raw["id"] = sid
        st, dtype = self._checked(lambda: self.check.stream(sid, raw))
        self.check.streams.append(st)
        self.check.stream_dtype.append(dtype)
        self.ir["streams"].append(raw)
        return Stream(self, sid)

    def push(self, tu: Loop, event: Any, s: Stream) -> None:
        self._access_side("push")
        if not isinstance(s, Stream) or s._b is not self:
            raise ProgramError(f"push needs a stream of this program, got {type(s).__name__}")
        self._register(tu, event, {"stream": s.id})

    def _register(self, tu: Loop, event: Any, what: dict) -> None:
        if not isinstance(tu, Loop):
            raise ProgramError(f"events belong to loops; got {type(tu).__name__}")
        try:
            ev = Event(event.value if isinstance(event, Event) else event)
        except ValueError:
            raise ProgramError(f"event must be 'beg', 'ite' or 'end', got {show(event)}") from None
        raw = {"tu": tu.tu, "event": ev.value, **what}
        i = len(self.ir["registrations"])
        cases = {c["id"] for c in self.ir["cases"]}
        self._checked(lambda: self.check.registration(i, raw, cases))
        self.ir["registrations"].append(raw)

    def operand_type(self, s: Stream) -> tuple[str, Form, Any]:
        st = self.check.streams[s.id]
        dtype = self.check.stream_dtype[s.id]
        if st.op == "buffer":
            t = self.check.tus[self.check.streams[st.source].tu]
            n = t.hi.dim if t.lo.const == 0 and t.hi.dim else (t.hi.const or 0) - (t.lo.const or 0)
            return dtype, Form.BUFFER, n
        if st.tu is not None and self.check.tus[st.tu].lanes > 1:
            return dtype, Form.VECTOR, LANES
        return dtype, Form.SCALAR, 1

    def callback(
        self, tu: Loop, event: Any, operands: tuple, name: str | None, body: Callable[..., Any]
    ) -> int:
        self._access_side("callback")
        for k, s in enumerate(operands):
            if not isinstance(s, Stream):
                raise ProgramError(f"callback operand {k} must be a stream, got {type(s).__name__}")
            self.push(tu, event, s)
        cid = len(self.ir["cases"])
        if name is None:  # the function's name, unless it has none (a lambda)
            name = str(getattr(body, "__name__", ""))
            name = name if name.isidentifier() else f"case{cid}"
        elif not isinstance(name, str) or not name.isidentifier():
            raise ProgramError(f"callback: name must be an identifier, got {name!r:.40}")
        self.case = {"id": cid, "name": name, "ops": []}
        self.case_types, self.case_counted = {}, set()
        try:
            args = [self.pop(*self.operand_type(s)) for s in operands]
            body(*args)
        finally:
            case, self.case = self.case, None
        self.ir["cases"].append(case)
        self._register(tu, event, {"case": cid})
        return cid

    # -- execute side -----------------------------------------------------------------
    def _inside(self, what: str) -> None:
        if self.case is None:
            raise ProgramError(f"{what} runs on the execute side: call it inside a callback")

    def _op(self, raw: dict) -> Value | None:
        """Append execute-side op `raw` to the open case, checked by its registry rule; its
        result (if its spec has one) as a `Value`."""
        self._inside(raw["op"])
        spec = spec_of(EXECUTE, raw["op"])
        result = spec is not None and spec.outputs != "none"
        if result:
            raw["id"] = len(self.case_types)
        where = f"case {self.case['id']} ({self.case['name']}) op {len(self.case['ops'])}"
        counters = len(self.ir["counters"])
        checker = OpChecker(self.check, self.case_types, counters, where, self.case_counted)
        self._checked(lambda: checker.check(raw))
        self.case["ops"].append(raw)
        if not result:
            return None
        dtype, form, length = self.case_types[raw["id"]]
        return Value(self, raw["id"], dtype, form, length)

    def compute(
        self,
        kind: str,
        args: tuple = (),
        what: str = "",
        labels: tuple[str, ...] = (),
        **attrs: Any,
    ) -> Value | None:
        """Execute-side op `kind` on `args` (values or numbers, named in errors by `labels`,
        by default `what`); `attrs` are its IR fields."""
        what = what or kind
        self._inside(what)
        labels = labels or (what,) * len(args)
        ids = [self.value(a, label) for a, label in zip(args, labels, strict=True)]
        raw = {"op": kind, **({"args": ids} if ids else {}), **attrs}
        return self._op(raw)

    def value(self, x: Any, what: str) -> int:
        if isinstance(x, Value):
            return x.id
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise ProgramError(
                f"{what}: expected an execute-side value or a number, got"
                f" {type(x).__name__} (streams reach callbacks as operands)"
            )
        dtype = "int64" if isinstance(x, int) else "float32"
        if isinstance(x, float) and math.isinf(x):  # strict JSON has no infinity
            x = "inf" if x > 0 else "-inf"
        return self._op({"op": "const", "value": x, "dtype": dtype}).id

    def pop(self, dtype: str, form: Any = "scalar", length: Any = None) -> Value:
        self._inside("pop")
        form = Form(form.value if isinstance(form, Form) else form)
        if isinstance(length, Dim):
            length = length.name
        raw = {"op": "pop", "dtype": dtype, "form": form.value}
        if form is Form.BUFFER:
            raw["length"] = length
        return self._op(raw)

    def binary(self, fn: str, a: Any, b: Any) -> Value:
        return self.compute("binary", (a, b), f"arithmetic ({fn})", (fn, fn), fn=fn)

    def arange(self, n: Any) -> Value:
        return self.compute("arange", length=n.name if isinstance(n, Dim) else n)

    def counter_op(self, kind: str, cid: int, by: int = 1) -> Value | None:
        step = {"by": by} if kind == "increment" else {}
        return self.compute(kind, (), f"counter {kind}", counter=cid, **step)

    def memory_op(
        self, kind: str, mem: Memref, idx: tuple, value: Any = None, fn: str | None = None
    ) -> Value | None:
        """`load`, `store` or `accumulate` of `mem` at `idx` (a value after the indices for
        the writes)."""
        labels = tuple(f"{kind} {mem.name} index {k}" for k in range(len(idx)))
        if kind != "load":
            idx, labels = (*idx, value), (*labels, f"{kind} {mem.name} value")
        fns = {} if fn is None else {"fn": fn}
        return self.compute(kind, idx, f"{kind} of {mem.name}", labels, memref=mem.name, **fns)

    def counter(self, init: int) -> Counter:
        self._access_side("counter")
        cid = len(self.ir["counters"])
        if not isinstance(init, int) or isinstance(init, bool):
            raise ProgramError(f"counter init must be an int, got {show(init)}")
        self.ir["counters"].append({"id": cid, "init": init})
        return Counter(self, cid)


def current() -> _Builder:
    b = _CURRENT.get()
    if b is None:
        raise ProgramError("dae builder functions can only be called while `trace` runs a kernel")
    return b


@contextlib.contextmanager
def building(signature: dict) -> Iterator[_Builder]:
    b = _Builder(signature)
    token = _CURRENT.set(b)
    try:
        yield b
    finally:
        _CURRENT.reset(token)
