"""DAE: decoupled access-execute programs for embedding operations (the Ember model).

Agents write::

    from dsl import dae

    def kernel(offsets, indices, table, **params):
        out = dae.output("out")
        B, D = out.shape
        with dae.loop(0, B) as bag:                        # access side: traversal units
            with dae.loop(dae.load(offsets, bag), dae.load(offsets, bag + 1)) as nz:
                row = dae.load(indices, nz)
                with dae.loop(0, D, lanes=8) as col:
                    x = dae.load(table, row, col, contiguous=True)
                @dae.callback(col, "end", bag, dae.buffer(x))  # execute side
                def add_row(b, r):
                    dae.accumulate(out, (b, dae.arange(D)), r)
        return out

`REFERENCE.md` next to this file documents every construct. This package is pure Python
and imports nothing heavy: it runs inside the sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from dsl.core.params import IR_KEY as TUNABLE_KEY
from dsl.core.params import bind as bind_params
from dsl.core.params import tunable
from dsl.dae.builder import Counter, Dim, Loop, Memref, Stream, Value, building, current
from dsl.dae.ir import LANES, Event, Form, Program
from dsl.dae.validate import load_ir
from dsl.errors import ProgramError

BEG, ITE, END = Event.BEG, Event.ITE, Event.END

__all__ = [
    "BEG",
    "END",
    "ITE",
    "LANES",
    "Counter",
    "Dim",
    "Event",
    "Form",
    "Loop",
    "Memref",
    "Program",
    "Stream",
    "Value",
    "accumulate",
    "arange",
    "buffer",
    "callback",
    "counter",
    "equal",
    "load",
    "load_ir",
    "loop",
    "maximum",
    "minimum",
    "not_equal",
    "output",
    "pop",
    "push",
    "store",
    "trace",
    "tunable",
    "where",
]


def loop(lo: Any, hi: Any, *, step: int = 1, lanes: int = 1) -> AbstractContextManager[Loop]:
    """A traversal unit `for iv in range(lo, hi, step)`, nested in the enclosing loop.

    Bounds are ints, dims, or scalar integer streams of enclosing loops (CSR ranges).
    `lanes=8` makes a vector loop (innermost only): each iteration covers 8 values with a
    tail mask. Use as `with dae.loop(0, B) as bag:`; `bag` is the induction-variable stream.
    """
    return current().loop(lo, hi, step, lanes)


def load(mem: Memref, *index: Any, nontemporal: bool = False, contiguous: bool = False) -> Any:
    """`mem[index...]`. Outside callbacks: a memory stream (gather) of the deepest loop its
    index streams belong to. Inside a callback: an execute-side load of an input."""
    if not isinstance(mem, Memref):
        raise ProgramError(f"load needs a memref (a kernel argument), got {type(mem).__name__}")
    b = current()
    if b.case is not None:
        if nontemporal or contiguous:
            raise ProgramError("nontemporal/contiguous are access-side load hints")
        return b.memory_op("load", mem, index)
    return b.load_stream(mem, index, nontemporal, contiguous)


def buffer(s: Stream) -> Stream:
    """All values of `s` over one fiber of its loop as one row operand (bufferization):
    push it on that loop's `end` event and the callback pops the whole row at once."""
    return current().buffer(s)


def callback(
    tu: Loop, event: Any, *operands: Stream, name: str | None = None
) -> Callable[[Callable[..., Any]], int]:
    """Decorator: run the function on the core each time `event` of `tu` fires.

    The operands are pushed into the data queue on that event and popped, in order, as the
    function's arguments. Returns the case id.
    """

    def register(body: Callable[..., Any]) -> int:
        return current().callback(tu, event, operands, name, body)

    return register


def push(tu: Loop, event: Any, s: Stream) -> None:
    """Low level (DLC `register_operand`): push `s` into the data queue on `event` of `tu`;
    some callback must `pop` it."""
    current().push(tu, event, s)


def pop(dtype: str, form: str = "scalar", length: Any = None) -> Value:
    """Low level (DLC `pop_operand`): pop the next operand of the data queue inside a
    callback. form: 'scalar', 'vector' (8 lanes) or 'buffer' (give `length`)."""
    return current().pop(dtype, form, length)


def store(mem: Memref, index: tuple, value: Any) -> None:
    """Execute side: `mem[index] = value` on an output (vector indices scatter lane-wise;
    masked-off lanes are skipped)."""
    current().memory_op("store", mem, _tuple(index), value)


def accumulate(mem: Memref, index: tuple, value: Any, fn: str = "add") -> None:
    """Execute side read-modify-write: `mem[index] = fn(mem[index], value)`, fn in add, max,
    min, mul, div."""
    current().memory_op("accumulate", mem, _tuple(index), value, fn)


def arange(n: Any) -> Value:
    """Execute side: the index row 0..n-1 (n an int or dim), to address a whole buffer."""
    return current().arange(n)


def maximum(a: Any, b: Any) -> Any:
    """Element-wise max (streams on the access side, values inside callbacks)."""
    return _either("max", a, b)


def minimum(a: Any, b: Any) -> Any:
    """Element-wise min (streams on the access side, values inside callbacks)."""
    return _either("min", a, b)


def where(cond: Value, a: Any, b: Any) -> Value:
    """Execute side, element-wise: `a` where `cond` is nonzero, else `b` (a select, not a
    branch). `cond` is an int64 value such as a comparison `x < y`."""
    return current().compute("select", (cond, a, b), "where")


def equal(a: Any, b: Any) -> Value:
    """Execute side: 1 where `a == b`, else 0 (int64), element-wise."""
    return current().compute("compare", (a, b), "equal", fn="eq")


def not_equal(a: Any, b: Any) -> Value:
    """Execute side: 1 where `a != b`, else 0 (int64), element-wise."""
    return current().compute("compare", (a, b), "not_equal", fn="ne")


def counter(init: int = 0) -> Counter:
    """An execute-side counter; `c.get()` and `c.increment(by)` inside callbacks."""
    return current().counter(init)


def output(name: str) -> Memref:
    """The output array `name` declared by the task."""
    m = current().handles.get(name)
    if m is None or not m.output:
        raise ProgramError(f"no output named {name!r}")
    return m


def _either(fn: str, a: Any, b: Any) -> Any:
    bld = current()
    if bld.case is not None:
        return bld.binary(fn, a, b)
    return bld.alu(fn, a, b)


def _tuple(index: Any) -> tuple:
    return tuple(index) if isinstance(index, (tuple, list)) else (index,)


def trace(kernel: Callable[..., Any], signature: dict) -> dict:
    """Run `kernel` on input handles made from `signature` and return the IR (JSON form)."""
    with building(signature) as b:
        inputs = {s["name"]: b.handles[s["name"]] for s in signature.get("inputs", [])}
        try:
            kwargs, tunable = bind_params(kernel, signature.get("params") or {})
            result = kernel(**inputs, **kwargs)
        except ProgramError as exc:
            if exc.line is None:
                exc.line = _user_line(exc)
            raise
        returned = _returned(result)
        ir = {
            "dialect": "dae",
            "version": 1,
            "dims": dict(b.check.dims),
            **b.ir,
            "returns": returned,
            **({} if tunable is None else {TUNABLE_KEY: tunable}),
        }
    load_ir(ir)  # the builder checked each node; this checks the whole
    return ir


def _returned(result: Any) -> list[str]:
    if isinstance(result, Memref):
        result = [result]
    elif isinstance(result, dict):
        result = list(result.values())
    if (
        not isinstance(result, (list, tuple))
        or not all(isinstance(m, Memref) and m.output for m in result)
        or not result
    ):
        raise ProgramError(
            f"kernel must return its output(s) (dae.output(name)), got {type(result).__name__}"
        )
    return [m.name for m in result]


def _user_line(exc: BaseException) -> int | None:
    """Line of the innermost frame outside dsl/ (the user's call that failed)."""
    import contextlib
    import os

    skip = (
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        os.path.dirname(os.path.abspath(contextlib.__file__)),
    )
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if not os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(skip):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
