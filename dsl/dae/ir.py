"""The DAE dialect's IR: a decoupled lookup-compute (DLC-like) program as plain data.

A program has two halves that meet only through two queues:

- the **access** half: traversal units (`TU`, nested loops over dense or stream-given
  ranges, optionally `lanes` wide), `StreamNode`s hanging off them (induction variables,
  memory loads, integer ALU ops, row buffers) and `Registration`s that push a stream's head
  into the data queue (an *operand*) or a case id into the control queue (a *token*) when a
  TU event (`beg`, `ite`, `end`) fires;
- the **execute** half: execute-side `Counter`s and a compute loop of `Case`s; a case
  runs once per token with its id and pops its operands with `pop` ops.

Everything is a frozen dataclass so that a loaded program cannot change under the
interpreter. The streams are the shared IR's nodes (`dsl.core.ir.Node`: they read other
streams through ports), so the shared pass walker runs the access side; TUs and
registrations are the dialect's own (a TU is a loop scope the streams live in, not a
value). A case's ops are numbered per case (SSA ids, none for stores) in the wire form;
`Case.nodes` gives them as shared nodes (`OpNode`), so the walker runs a case too. The
program opens its JSON with the shared header (`ProgramBase`). `to_json` gives the wire
form that leaves the sandbox; validation of untrusted JSON lives in `dsl.dae.validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from dsl.core.ir import Node, Port, ProgramBase

LANES = 8
"""Vector length of the target (Ember's `vectorLength=8`)."""


class Event(StrEnum):
    """A traversal-unit event: start of a fiber, each iteration, end of a fiber."""

    BEG = "beg"
    ITE = "ite"
    END = "end"


class Form(StrEnum):
    """Shape of a queue operand or execute-side value."""

    SCALAR = "scalar"
    VECTOR = "vector"  # LANES lanes with a tail mask, from a lanes>1 TU
    BUFFER = "buffer"  # a whole row (length known per program), from `buffer`


DTYPES = ("int64", "float32")
"""Value dtypes of both halves (int32 inputs are read as int64)."""

Length = int | str
"""A static length: an int or the name of a dim."""


@dataclass(frozen=True)
class Ref:
    """An access-side operand: a stream id, an integer constant, or a dim's value."""

    stream: int | None = None
    const: int | None = None
    dim: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.stream is not None:
            return {"stream": self.stream}
        return {"dim": self.dim} if self.dim is not None else {"const": self.const}


@dataclass(frozen=True)
class Bound:
    """A loop bound: an int constant, a dim name, or a stream of an enclosing TU."""

    const: int | None = None
    dim: str | None = None
    stream: int | None = None

    def to_json(self) -> dict[str, Any]:
        if self.stream is not None:
            return {"stream": self.stream}
        if self.dim is not None:
            return {"dim": self.dim}
        return {"const": self.const}


@dataclass(frozen=True)
class Memref:
    """A named array: a task input (read-only) or a task output."""

    name: str
    dtype: str
    shape: tuple[Length, ...]
    output: bool


@dataclass(frozen=True)
class TU:
    """A traversal unit: `for iv in range(lo, hi, step)` once per iteration of `parent`.

    With `lanes > 1` one iteration covers `lanes` consecutive values (a vector iteration
    with a tail mask).
    """

    id: int
    parent: int | None
    lo: Bound
    hi: Bound
    step: int = 1
    lanes: int = 1


@dataclass(frozen=True)
class StreamNode(Node):
    """An access-side stream of the IR: one value per iteration of `tu`, as a node of the
    shared IR (`dsl.core.ir.Node`) so the pass walker runs the access side.

    Its ops are declared in `dsl.dae.ops_access`. op `iv`: the TU's induction variable. op
    `load`: `memref[index...]` (`nontemporal`: do not keep the lines in L2/LLC;
    `contiguous`: one vector load per chunk instead of a lane-by-lane gather). op `alu`:
    `fn(args[0], args[1])` on integers. op `buffer`: every value of stream `source` over one
    fiber of its TU, as one row (lives in the parent TU). The node's inputs are the streams
    it reads (its stream args, a buffer's source), its one output the dtype of its values;
    the TU, the args as `Ref`s and the op's fields are its attributes. Build one with
    `StreamNode.make`.
    """

    @classmethod
    def make(
        cls,
        id: int,
        op: str,
        tu: int | None,
        args: tuple[Ref, ...] = (),
        *,
        dtype: str = "int64",
        fn: str | None = None,
        memref: str | None = None,
        nontemporal: bool = False,
        contiguous: bool = False,
        source: int | None = None,
    ) -> StreamNode:
        reads = [a.stream for a in args if a.stream is not None]
        reads += [source] if source is not None else []
        attrs = {"tu": tu, "args": tuple(args), "fn": fn, "memref": memref}
        attrs |= {"nontemporal": nontemporal, "contiguous": contiguous, "source": source}
        return cls(id, op, tuple(Port(r) for r in reads), attrs, (dtype,))

    def label(self) -> str:
        return f"stream {self.id} ({self.op})"

    @property
    def tu(self) -> int | None:
        return self.attrs["tu"]

    @property
    def args(self) -> tuple[Ref, ...]:
        return self.attrs["args"]

    @property
    def fn(self) -> str | None:
        return self.attrs["fn"]

    @property
    def memref(self) -> str | None:
        return self.attrs["memref"]

    @property
    def nontemporal(self) -> bool:
        return self.attrs["nontemporal"]

    @property
    def contiguous(self) -> bool:
        return self.attrs["contiguous"]

    @property
    def source(self) -> int | None:
        return self.attrs["source"]


@dataclass(frozen=True)
class Registration:
    """On `event` of `tu`, push `stream`'s head as an operand, or push the token `case`."""

    tu: int
    event: Event
    stream: int | None = None
    case: int | None = None


@dataclass(frozen=True)
class Counter:
    """An execute-side integer variable (Ember's get_var / increment_var)."""

    id: int
    init: int = 0


@dataclass(frozen=True)
class Op:
    """One execute-side operation inside a case (SSA: `id` names its result, if any).

    The kinds, the fields each one uses and their type rules are declared in
    `dsl.dae.ops_execute`; the fields not used stay at their defaults.
    """

    op: str
    id: int | None = None
    args: tuple[int, ...] = ()
    dtype: str | None = None
    form: Form | None = None
    length: Length | None = None
    value: float | int | None = None
    fn: str | None = None
    memref: str | None = None
    counter: int | None = None
    by: int = 1


@dataclass(frozen=True)
class OpNode(Node):
    """An execute-side op as a node of the shared IR, so the shared pass walker runs a
    case: its id is the op's position in the case, its inputs the ports of the ops whose
    results (SSA ids) it reads, its one output, when it has a result, the result's dtype.
    The `Op` itself is its attribute `fields`."""

    @property
    def fields(self) -> Op:
        return self.attrs["fields"]

    def label(self) -> str:
        return f"op {self.id} ({self.op})"


@dataclass(frozen=True)
class Case:
    """A callback body: what the core runs when it pops token `id`."""

    id: int
    name: str
    ops: tuple[Op, ...]

    @cached_property
    def nodes(self) -> tuple[OpNode, ...]:
        """The ops as nodes of the shared IR (built once: the case is a graph the pass
        walker runs)."""
        at = {op.id: k for k, op in enumerate(self.ops) if op.id is not None}
        return tuple(
            OpNode(
                k,
                op.op,
                tuple(Port(at[a]) for a in op.args),
                {"fields": op},
                () if op.id is None else (op.dtype,),
            )
            for k, op in enumerate(self.ops)
        )


@dataclass(frozen=True)
class Program(ProgramBase):
    """A whole DAE program (both halves). `returns` names the outputs the kernel returned.

    For the pass walker its `nodes` are the access side's streams; TUs are the loops the
    streams live in (a stream's `tu`), and each case is a graph of its own (`Case.nodes`)."""

    DIALECT = "dae"
    VERSION = 1  # what `load_ir` reads; bump when the wire form changes

    memrefs: tuple[Memref, ...]
    tus: tuple[TU, ...]
    streams: tuple[StreamNode, ...]
    registrations: tuple[Registration, ...]
    counters: tuple[Counter, ...]
    cases: tuple[Case, ...]
    returns: tuple[str, ...]
    dims: dict[str, int | None] = field(default_factory=dict)

    @property
    def nodes(self) -> tuple[StreamNode, ...]:
        return self.streams

    def to_json(self) -> dict[str, Any]:
        return to_json(self)


# ----------------------------------------------------------------------------- JSON


def _drop_defaults(d: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in d.items()
        if v is not None and v is not False and not (isinstance(v, (list, tuple)) and not v)
    }


def to_json(p: Program) -> dict[str, Any]:
    """The wire form: plain dicts, lists, strings and numbers."""
    return {
        **p.header(),
        "dims": dict(p.dims),
        "memrefs": [
            {"name": m.name, "dtype": m.dtype, "shape": list(m.shape), "output": m.output}
            for m in p.memrefs
        ],
        "tus": [
            {
                "id": t.id,
                "parent": t.parent,
                "lo": t.lo.to_json(),
                "hi": t.hi.to_json(),
                "step": t.step,
                "lanes": t.lanes,
            }
            for t in p.tus
        ],
        "streams": [
            _drop_defaults(
                {
                    "id": s.id,
                    "op": s.op,
                    "tu": s.tu,
                    "args": [a.to_json() for a in s.args],
                    "fn": s.fn,
                    "memref": s.memref,
                    "nontemporal": s.nontemporal,
                    "contiguous": s.contiguous,
                    "source": s.source,
                }
            )
            for s in p.streams
        ],
        "registrations": [
            _drop_defaults({"tu": r.tu, "event": r.event.value, "stream": r.stream, "case": r.case})
            for r in p.registrations
        ],
        "counters": [{"id": c.id, "init": c.init} for c in p.counters],
        "cases": [
            {"id": c.id, "name": c.name, "ops": [_op_json(o) for o in c.ops]} for c in p.cases
        ],
        "returns": list(p.returns),
    }


def _op_json(o: Op) -> dict[str, Any]:
    d = _drop_defaults(
        {
            "op": o.op,
            "id": o.id,
            "args": list(o.args),
            "dtype": o.dtype,
            "form": o.form.value if o.form else None,
            "length": o.length,
            "value": o.value,
            "fn": o.fn,
            "memref": o.memref,
            "counter": o.counter,
        }
    )
    if o.by != 1:
        d["by"] = o.by
    return d
