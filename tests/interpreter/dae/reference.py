"""A literal DAE interpreter for tests: the access side and the core as two Python
generators that exchange one queue entry at a time over bounded queues.

It shares nothing with interpreter/dae but the IR, so agreeing with it (outputs, protocol
errors, deadlocks) checks the array-based interpreter's push order, pop matching and
batched effects. Slow by design: small programs only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from dsl.dae.ir import LANES, Event, Form, Program


class ReferenceError(Exception):
    """Deadlock, protocol mismatch or bad access, found by the reference."""


@dataclass
class Operand:
    dtype: str
    form: Form
    value: np.ndarray
    mask: np.ndarray | None

    @property
    def kind(self) -> tuple:
        return (self.dtype, self.form, 1 if self.form is Form.SCALAR else len(self.value))


def _dim(program: Program, dims: dict[str, int], x) -> int:
    return x if isinstance(x, int) else dims[x]


class _Access:
    """Walks the loops depth first and yields ("token", case) or ("data", Operand)."""

    def __init__(self, program: Program, arrays: dict[str, np.ndarray], dims: dict[str, int]):
        self.p, self.arrays, self.dims = program, arrays, dims
        self.children: dict = {}
        for t in program.tus:
            self.children.setdefault(t.parent, []).append(t.id)

    def run(self):
        for t in self.children.get(None, []):
            yield from self.fiber(t, {})

    def bound(self, b, env) -> int:
        if b.stream is not None:
            return int(env[b.stream][0])
        return b.const if b.const is not None else self.dims[b.dim]

    def arg(self, ref, env):
        if ref.stream is not None:
            return env[ref.stream][0]
        return ref.const if ref.dim is None else self.dims[ref.dim]

    def pushes(self, tu: int, event: Event, env):
        for r in self.p.registrations:
            if r.tu != tu or r.event is not event:
                continue
            if r.case is not None:
                yield ("token", r.case)
                continue
            value, mask = env[r.stream]
            s = self.p.streams[r.stream]
            dtype = "float32" if np.asarray(value).dtype.kind == "f" else "int64"
            form = (
                Form.BUFFER
                if s.op == "buffer"
                else (Form.VECTOR if self.p.tus[s.tu].lanes > 1 else Form.SCALAR)
            )
            yield ("data", Operand(dtype, form, np.asarray(value), mask))

    def fiber(self, tid: int, env: dict):
        t = self.p.tus[tid]
        lo, hi = self.bound(t.lo, env), self.bound(t.hi, env)
        values = list(range(lo, hi, t.step))
        yield from self.pushes(tid, Event.BEG, env)
        rows: dict[int, list] = {}
        for start in range(0, len(values), t.lanes):
            chunk = values[start : start + t.lanes]
            inner = dict(env)
            if t.lanes > 1:
                mask = np.arange(LANES) < len(chunk)
                iv = np.array(chunk + [chunk[-1]] * (LANES - len(chunk)), dtype=np.int64)
            else:
                mask, iv = None, np.int64(chunk[0])
            for s in self.p.streams:
                if s.tu != tid or s.op == "buffer":
                    continue
                if s.op == "iv":
                    inner[s.id] = (iv, mask)
                elif s.op == "alu":
                    a, b = (self.arg(x, inner) for x in s.args)
                    fn = {
                        "add": np.add,
                        "sub": np.subtract,
                        "mul": np.multiply,
                        "div": np.floor_divide,
                        "min": np.minimum,
                        "max": np.maximum,
                    }[s.fn]
                    inner[s.id] = (fn(a, b), mask)
                else:
                    mem = self.arrays[s.memref]
                    idx = [np.broadcast_to(self.arg(x, inner), iv.shape) for x in s.args]
                    valid = mask if mask is not None else np.ones(iv.shape, dtype=bool)
                    for i, size in zip(idx, mem.shape, strict=True):
                        if np.any(((i < 0) | (i >= size)) & valid):
                            raise ReferenceError(f"stream {s.id} out of bounds")
                    safe = [np.where(valid, i, 0) for i in idx]
                    inner[s.id] = (mem[tuple(safe)], mask)
            for s in self.p.streams:  # rows being buffered
                if s.op == "buffer" and self.p.streams[s.source].tu == tid:
                    v, m = inner[s.source]
                    rows.setdefault(s.id, []).extend(
                        np.atleast_1d(v)[m].tolist() if m is not None else [v.item()]
                    )
            yield from self.pushes(tid, Event.ITE, inner)
            for c in self.children.get(tid, []):
                yield from self.fiber(c, inner)
        end_env = dict(env)
        for s in self.p.streams:
            if s.op == "buffer" and self.p.streams[s.source].tu == tid:
                dtype = np.float32 if self.arrays_dtype(s.source) == "float32" else np.int64
                end_env[s.id] = (np.array(rows.get(s.id, []), dtype=dtype), None)
        yield from self.pushes(tid, Event.END, end_env)

    def arrays_dtype(self, sid: int) -> str:
        s = self.p.streams[sid]
        if s.op == "load":
            return "float32" if self.arrays[s.memref].dtype.kind == "f" else "int64"
        return "int64"


def _floats_together(operands: list[tuple], start: int) -> list:
    """Operand values (float32 for all from `start` on if any of those is a float), then
    the list of their lane masks."""
    values = [np.asarray(v) for v, _ in operands]
    if any(v.dtype.kind == "f" for v in values[start:]):
        values[start:] = [v.astype(np.float32) for v in values[start:]]
    return [*values, [m for _, m in operands if m is not None]]


def _core(program: Program, arrays: dict[str, np.ndarray], dims: dict[str, int]):
    """The compute loop: yields "token" or ("data", expected kind), receives the entry."""
    counters = {c.id: c.init for c in program.counters}
    cases = {c.id: c for c in program.cases}
    while True:
        case = cases[(yield "token")]
        env: dict[int, tuple] = {}
        for op in case.ops:
            if op.op == "pop":
                length = {Form.SCALAR: 1, Form.VECTOR: LANES}.get(op.form) or _dim(
                    program, dims, op.length
                )
                got: Operand = yield ("data", (op.dtype, op.form, length))
                env[op.id] = (got.value, got.mask)
            elif op.op == "const":
                env[op.id] = (
                    np.array(op.value, dtype=np.float32 if op.dtype == "float32" else np.int64),
                    None,
                )
            elif op.op == "arange":
                env[op.id] = (np.arange(_dim(program, dims, op.length)), None)
            elif op.op == "get":
                env[op.id] = (np.int64(counters[op.counter]), None)
            elif op.op == "increment":
                counters[op.counter] += op.by
            elif op.op == "binary":
                (x, mx), (y, my) = env[op.args[0]], env[op.args[1]]
                if x.dtype.kind == "f" or y.dtype.kind == "f":
                    x, y = (
                        np.float32(x) if np.ndim(x) == 0 else x.astype(np.float32),
                        np.float32(y) if np.ndim(y) == 0 else y.astype(np.float32),
                    )
                    div = np.divide
                else:
                    div = np.floor_divide
                fn = {
                    "add": np.add,
                    "sub": np.subtract,
                    "mul": np.multiply,
                    "div": div,
                    "min": np.minimum,
                    "max": np.maximum,
                }[op.fn]
                masks = [m for m in (mx, my) if m is not None]
                env[op.id] = (fn(x, y), np.logical_and.reduce(masks) if masks else None)
            elif op.op in ("compare", "select"):
                *values, masks = _floats_together(
                    [env[a] for a in op.args], start=0 if op.op == "compare" else 1
                )
                if op.op == "compare":
                    x, y = values[0], values[1]
                    result = {
                        "lt": x < y,
                        "le": (x < y) | (x == y),
                        "gt": y < x,
                        "ge": (y < x) | (x == y),
                        "eq": x == y,
                        "ne": ~(x == y),
                    }[op.fn].astype(np.int64)
                else:
                    result = np.where(values[0] != 0, values[1], values[2])
                env[op.id] = (result, np.logical_and.reduce(masks) if masks else None)
            else:
                mem = arrays[op.memref]
                idx = [env[a][0] for a in op.args[: mem.ndim]]
                masks = [env[a][1] for a in op.args if env[a][1] is not None]
                shape = np.broadcast_shapes(
                    *(np.shape(i) for i in idx), *(np.shape(env[a][0]) for a in op.args)
                )
                keep = (
                    np.broadcast_to(np.logical_and.reduce(masks), shape)
                    if masks
                    else np.ones(shape, dtype=bool)
                )
                idx = [np.broadcast_to(i, shape)[keep] for i in idx]
                for i, size in zip(idx, mem.shape, strict=True):
                    if np.any((i < 0) | (i >= size)):
                        raise ReferenceError(f"case {case.id} {op.op} out of bounds")
                if op.op == "load":
                    out = np.zeros(shape, dtype=mem.dtype)
                    out[keep] = mem[tuple(idx)]
                    env[op.id] = (out, keep if masks else None)
                    continue
                value = np.broadcast_to(env[op.args[-1]][0], shape)[keep].astype(mem.dtype)
                for position, v in zip(zip(*idx, strict=True), value, strict=True):
                    if op.op == "store":
                        mem[position] = v
                    else:
                        old = mem[position]
                        mem[position] = {
                            "add": np.add,
                            "max": np.maximum,
                            "min": np.minimum,
                            "mul": np.multiply,
                            "div": np.divide,
                        }[op.fn](old, v)


def run_reference(
    program: Program,
    arrays: dict[str, np.ndarray],
    dims: dict[str, int],
    control_depth: int = 64,
    data_depth: int = 64,
) -> None:
    """Run until both sides finish; outputs in `arrays` are written in place."""
    access = _Access(program, arrays, dims).run()
    core = _core(program, arrays, dims)
    want = next(core)
    control: deque = deque()
    data: deque = deque()
    pending = None
    access_done = False
    while True:
        moved = False
        if not access_done:
            if pending is None:
                pending = next(access, None)
                access_done = pending is None
            if pending is not None:
                queue, depth = (
                    (control, control_depth) if pending[0] == "token" else (data, data_depth)
                )
                if len(queue) < depth:
                    queue.append(pending[1])
                    pending, moved = None, True
        if want == "token" and control:
            want, moved = core.send(control.popleft()), True
        elif isinstance(want, tuple) and data:
            got = data.popleft()
            if got.kind != want[1]:
                raise ReferenceError(f"protocol mismatch: expected {want[1]}, got {got.kind}")
            want, moved = core.send(got), True
        if not moved:
            if access_done and want == "token" and not control:
                if data:
                    raise ReferenceError(f"protocol mismatch: {len(data)} operands never popped")
                return
            raise ReferenceError("deadlock")
