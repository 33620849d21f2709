"""Functional semantics of the access side: traversal units, streams and queue pushes.

Instead of stepping loops one iteration at a time, every TU is evaluated as arrays: all of
its iterations (over all fibers) at once, in traversal order, with `owner[i]` naming the
parent iteration (fiber) that iteration i belongs to. Streams are arrays aligned with their
TU's iterations. The push order of the two queues follows from a depth-first layout of
events: a fiber pushes its `beg` registrations, then per iteration the `ite` registrations
followed by the fibers of child TUs (in program order), then its `end` registrations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dsl.core.spec import SEMANTICS
from dsl.dae.ir import Event, Form, Program, Registration, StreamNode
from dsl.dae.ops import ACCESS, DAE
from interpreter.core.walker import Walker
from interpreter.dae.queue_kernel import FILL, FLAT, ITERATE
from interpreter.errors import ExecutionError

MAX_ITERATIONS = 4_000_000
"""Cap on the values one TU may produce over a run (lanes count); a loop with runaway
bounds is an error, not an out-of-memory."""
MAX_PUSHES = 16_000_000
"""Cap on the queue entries of one run."""
MAX_VALUES = 1 << 25
"""Cap on the values all TUs and streams of one run hold together (lanes count), so the
trusted side's memory stays bounded whatever the program."""


@dataclass
class TUState:
    """All iterations of one TU. `iv` is (n,) or (n, lanes) with `mask` for vector TUs."""

    n: int
    nfib: int
    owner: np.ndarray
    iv: np.ndarray
    mask: np.ndarray | None
    elements: np.ndarray  # values (not chunks) per fiber
    chunks: np.ndarray  # iterations per fiber
    first: np.ndarray  # each fiber's first iteration (iterations are in fiber order)


@dataclass
class QueueEntry:
    """Columns describing every push, in push order (both queues interleaved)."""

    reg: np.ndarray  # registration index of each push
    inst: np.ndarray  # instance: iteration (ite) or fiber (beg/end) index


@dataclass
class AccessRun:
    """Everything the access side produced for one input set."""

    program: Program
    tus: list[TUState]
    values: list[np.ndarray]
    entries: QueueEntry
    start_iter: list[np.ndarray]  # pushes made before each TU iteration's own `ite` pushes
    dims: dict[str, int]
    memrefs: dict[str, np.ndarray] = field(default_factory=dict)
    flat: dict[int, np.ndarray] = field(default_factory=dict)  # element index per load stream
    ancestors: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)

    def ancestor_index(self, tu: int, ancestor: int) -> np.ndarray:
        """For every iteration of `tu`, the iteration of `ancestor` enclosing it (kept:
        streams, bounds and pops ask for the same pairs again, and TUs never change)."""
        key = (tu, ancestor)
        if key not in self.ancestors:
            if tu == ancestor:
                idx = np.arange(self.tus[tu].n)
            else:
                parent = self.program.tus[tu].parent
                if parent is None:
                    raise AssertionError("not an ancestor")
                idx = self.ancestor_index(parent, ancestor)[self.tus[tu].owner]
            self.ancestors[key] = idx
        return self.ancestors[key]

    def stream_shape(self, s: StreamNode) -> tuple[Form, int]:
        """Form and length of one value of stream `s`."""
        if s.op == "buffer":
            src = self.program.streams[s.source]
            return Form.BUFFER, int(self.tus[src.tu].elements[0]) if self.tus[src.tu].nfib else 0
        if self.program.tus[s.tu].lanes > 1:
            return Form.VECTOR, self.program.tus[s.tu].lanes
        return Form.SCALAR, 1

    def operand_values(
        self, reg: Registration, inst: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Values (and lane masks) that registration `reg` pushed at instances `inst`."""
        p = self.program
        s = p.streams[reg.stream]
        if s.op == "buffer":
            return self.values[s.id][inst], None
        tu = reg.tu if reg.event is Event.ITE else p.tus[reg.tu].parent  # whose iterations
        rows = inst if tu == s.tu else self.ancestor_index(tu, s.tu)[inst]
        mask = self.tus[s.tu].mask
        return self.values[s.id][rows], (mask[rows] if mask is not None else None)


def resolve(length: int | str, dims: dict[str, int], where: str) -> int:
    if isinstance(length, int):
        return length
    if length not in dims or dims[length] is None:
        raise ExecutionError(f"{where}: dim {length!r} has no value in this run")
    return int(dims[length])


def _bound(run: AccessRun, b, tu: int, parent_n: int, where: str) -> np.ndarray:
    p = run.program
    if b.stream is not None:
        s = p.streams[b.stream]
        parent = p.tus[tu].parent
        return run.values[s.id][run.ancestor_index(parent, s.tu)]
    value = b.const if b.const is not None else resolve(b.dim, run.dims, where)
    return np.full(parent_n, value, dtype=np.int64)


def _traverse(run: AccessRun, tid: int) -> TUState:
    t = run.program.tus[tid]
    nfib = 1 if t.parent is None else run.tus[t.parent].n
    lo = _bound(run, t.lo, tid, nfib, f"TU {tid} lo")
    hi = _bound(run, t.hi, tid, nfib, f"TU {tid} hi")
    elements = np.maximum(0, (hi - lo + t.step - 1) // t.step)
    chunks = -(-elements // t.lanes)
    # Per fiber first: a sum of runaway bounds could wrap around int64.
    if (chunks > MAX_ITERATIONS).any() or int(chunks.sum()) * t.lanes > MAX_ITERATIONS:
        raise ExecutionError(
            f"TU {tid} would run more than {MAX_ITERATIONS} values ({t.lanes} per"
            " iteration) in this run; check its bounds"
        )
    n = int(chunks.sum())
    first = np.cumsum(chunks) - chunks
    if t.lanes == 1 and lo.dtype == np.int64:
        iterate = ITERATE.pick(n)
        if iterate is not ITERATE.plain:
            owner, iv = iterate(lo, chunks, t.step, n)
            return TUState(n, nfib, owner, iv, None, elements, chunks, first)
    owner = np.repeat(np.arange(nfib), chunks)
    k = np.arange(n) - first[owner]
    if t.lanes == 1:
        return TUState(n, nfib, owner, lo[owner] + k * t.step, None, elements, chunks, first)
    lane = k[:, None] * t.lanes + np.arange(t.lanes)[None, :]
    mask = lane < elements[owner][:, None]
    iv = lo[owner][:, None] + lane * t.step
    return TUState(n, nfib, owner, iv, mask, elements, chunks, first)


def _operands(run: AccessRun, s: StreamNode, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Stream `s`'s args as arrays aligned with its TU's iterations: a constant or dim
    filled in, a stream's values (`inputs`, in arg order) repeated over the iterations of
    `s`'s TU that each value encloses."""
    lanes = run.program.tus[s.tu].lanes > 1
    values = iter(inputs)
    out = []
    for ref in s.args:
        if ref.stream is None:
            n = run.tus[s.tu].n
            value = ref.const if ref.dim is None else resolve(ref.dim, run.dims, f"stream {s.id}")
            out.append(np.full((n, 1) if lanes else n, value, dtype=np.int64))
            continue
        src_tu, v = run.program.streams[ref.stream].tu, next(values)
        if src_tu != s.tu:
            v = v[run.ancestor_index(s.tu, src_tu)]
        out.append(v[:, None] if lanes and v.ndim == 1 else v)  # a scalar on every lane
    return out


def flat_index(
    indices: list[np.ndarray], shape: tuple[int, ...], mask: np.ndarray | None, where: str
) -> np.ndarray:
    """Row-major flat positions of `indices` into an array of `shape`, bounds-checked on
    the lanes `mask` keeps (masked-off lanes read position 0). Vectors of one length and
    no mask, the common case, go through `queue_kernel.FLAT` once it is compiled (the
    arrays below then only name an index out of bounds)."""
    if mask is None and len(indices) == len(shape) <= 3 and len({i.shape for i in indices}) == 1:
        first = indices[0]
        if first.ndim == 1 and all(i.dtype == np.int64 for i in indices):
            positions = FLAT.pick(len(first) * len(shape))
            if positions is not FLAT.plain:
                padded = (*indices, first, first)[:3]
                flat, inside = positions(*padded, np.array(shape, dtype=np.int64))
                if inside:
                    return flat
    full = np.broadcast_shapes(*(i.shape for i in indices))
    flat = np.zeros(full, dtype=np.int64)
    for dim, (idx, size) in enumerate(zip(indices, shape, strict=True)):
        idx = np.broadcast_to(idx, full)
        bad = (idx < 0) | (idx >= size)
        if mask is not None:
            bad &= np.broadcast_to(mask, full)
            idx = np.where(mask, idx, 0)
        if bad.any():
            first = np.argwhere(bad)[0]
            raise ExecutionError(
                f"{where}: index {int(idx[tuple(first)])} out of bounds for"
                f" dim {dim} of size {size} (element {first.tolist()})"
            )
        flat = flat * size + idx
    return flat


# The access ops' semantics, in the pass walker's form (`interpreter/core/walker.py`):
# `rule(stream, values of the streams it reads, run) -> [its values]`.


@DAE.implement(SEMANTICS, "access.iv")
def _iv(s: StreamNode, inputs: list[np.ndarray], run: AccessRun) -> list[np.ndarray]:
    return [run.tus[s.tu].iv]


@DAE.implement(SEMANTICS, "access.buffer")
def _buffer(s: StreamNode, inputs: list[np.ndarray], run: AccessRun) -> list[np.ndarray]:
    st = run.tus[run.program.streams[s.source].tu]
    n_el = int(st.elements[0]) if st.nfib else 0
    (values,) = inputs
    if not st.nfib:  # no fibers: an empty buffer (reshape cannot infer a width from 0)
        return [values.reshape(0, 0)]
    return [values.reshape(st.nfib, -1)[:, :n_el]]


ALU = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "min": np.minimum,
    "max": np.maximum,
}
"""Integer functions of ALU streams (and of execute-side arithmetic); `div` floors and
checks for zero where it is used."""


@DAE.implement(SEMANTICS, "access.alu")
def _alu(s: StreamNode, inputs: list[np.ndarray], run: AccessRun) -> list[np.ndarray]:
    a, b = _operands(run, s, inputs)
    if s.fn == "div":
        if (b == 0).any():
            raise ExecutionError(f"stream {s.id} (alu div): division by zero")
        return [a // b]
    return [ALU[s.fn](a, b)]


@DAE.implement(SEMANTICS, "access.load")
def _load(s: StreamNode, inputs: list[np.ndarray], run: AccessRun) -> list[np.ndarray]:
    args = _operands(run, s, inputs)
    mem = run.memrefs[s.memref]
    mask = run.tus[s.tu].mask
    flat = flat_index(args, mem.shape, mask, f"stream {s.id} (load {s.memref})")
    run.flat[s.id] = flat
    values = mem.reshape(-1)[flat]
    return [values.astype(np.int64) if values.dtype.kind in "iu" else values]


def check_memrefs(program: Program, arrays: dict[str, np.ndarray], dims: dict[str, int]) -> None:
    for m in program.memrefs:
        if m.name not in arrays:
            raise ExecutionError(f"memref {m.name!r}: no array given")
        shape = tuple(resolve(d, dims, f"memref {m.name!r}") for d in m.shape)
        if arrays[m.name].shape != shape:
            raise ExecutionError(
                f"memref {m.name!r}: array has shape {arrays[m.name].shape}, declared {shape}"
            )


def run_access(program: Program, memrefs: dict[str, np.ndarray], dims: dict[str, int]) -> AccessRun:
    """Evaluate every TU and stream and lay out the queue pushes in order."""
    run = AccessRun(
        program, [], [None] * len(program.streams), QueueEntry(None, None), [], dict(dims), memrefs
    )
    AccessPass(program, run).run()
    while len(run.tus) < len(program.tus):  # loops that no stream comes after
        run.tus.append(_traverse(run, len(run.tus)))
    _layout(run)
    return run


class AccessPass(Walker):
    """The access side on the shared pass walker: the streams in id order, each by its op's
    rule. A loop (TU) is traversed just before the first stream that needs it: its bounds
    are streams of enclosing loops, which come earlier, and every stream after it may read
    it. The run's memory is bounded: every value the streams and loops hold counts against
    `MAX_VALUES`."""

    def __init__(self, program: Program, run: AccessRun) -> None:
        side = f"{ACCESS}."
        rules = {
            n.removeprefix(side): r for n, r in DAE.rules(SEMANTICS).items() if n.startswith(side)
        }
        super().__init__(program, rules, run)
        self.held = 0

    def call(self, node: StreamNode, inputs: list[np.ndarray]) -> list[np.ndarray]:
        run = self.context
        while node.tu is not None and len(run.tus) <= node.tu:
            run.tus.append(_traverse(run, len(run.tus)))
            self.held += run.tus[-1].iv.size
        return super().call(node, inputs)

    def store(self, node: StreamNode, outputs: list[np.ndarray], values: dict) -> None:
        super().store(node, outputs, values)
        self.context.values[node.id] = outputs[0]
        self.held += outputs[0].size
        if self.held > MAX_VALUES:
            raise ExecutionError(
                f"stream {node.id} ({node.op}): the access side would hold more than"
                f" {MAX_VALUES} values in this run; use fewer streams or shorter loops"
            )

    def fail(self, node: StreamNode, exc: Exception) -> Exception:
        """A run-time error keeps its own place (a stream or a loop); a numpy fault is
        named by the stream that raised it."""
        return exc if isinstance(exc, ExecutionError) else super().fail(node, exc)


def _layout(run: AccessRun) -> None:
    """Position of every push in the global push order (see module docstring)."""
    p = run.program
    regs: dict[tuple[int, Event], list[int]] = {}
    for i, r in enumerate(p.registrations):
        regs.setdefault((r.tu, r.event), []).append(i)
    count = {key: len(v) for key, v in regs.items()}
    children: dict[int | None, list[int]] = {}
    for t in p.tus:
        children.setdefault(t.parent, []).append(t.id)
    size_fiber: list[np.ndarray] = [None] * len(p.tus)
    # per TU: where each fiber's iterations begin (iterations are in fiber order), and the
    # running sum of its iterations' sizes, so a fiber's size is a difference of two sums
    first_iter: list[np.ndarray] = [None] * len(p.tus)
    before_iter: list[np.ndarray] = [None] * len(p.tus)
    for t in reversed(p.tus):
        st = run.tus[t.id]
        size = np.full(st.n, count.get((t.id, Event.ITE), 0), dtype=np.int64)  # per iteration
        for c in children.get(t.id, []):
            size += size_fiber[c]
        before = np.zeros(st.n + 1, dtype=np.int64)
        np.cumsum(size, out=before[1:])
        per_fiber, first = st.chunks, st.first  # (a fiber with none: first is the next's)
        first_iter[t.id], before_iter[t.id] = first, before
        size_fiber[t.id] = (
            count.get((t.id, Event.BEG), 0)
            + count.get((t.id, Event.END), 0)
            + (before[first + per_fiber] - before[first])
        )
    start_fiber: list[np.ndarray] = [None] * len(p.tus)
    start_iter: list[np.ndarray] = [None] * len(p.tus)
    cursor = np.zeros(1, dtype=np.int64)
    for c in children.get(None, []):
        start_fiber[c] = cursor.copy()
        cursor = cursor + size_fiber[c]
    total = int(cursor[0])
    if total > MAX_PUSHES:
        raise ExecutionError(
            f"the access side would push {total} queue entries (limit"
            f" {MAX_PUSHES}); push rows as buffers or fewer operands"
        )
    reg = np.empty(total, dtype=np.int64)
    inst = np.empty(total, dtype=np.int64)
    for t in p.tus:
        st = run.tus[t.id]
        nbeg = count.get((t.id, Event.BEG), 0)
        excl = before_iter[t.id]  # (its last entry: the total, read for a fiber with none)
        # the count restarts in every fiber, after its `beg` pushes
        shift = start_fiber[t.id] + nbeg - excl[first_iter[t.id]]
        start_iter[t.id] = shift[st.owner] + excl[:-1]
        inner = start_iter[t.id] + count.get((t.id, Event.ITE), 0)
        for c in children.get(t.id, []):
            start_fiber[c] = inner.copy()
            inner = inner + size_fiber[c]
        end_start = start_fiber[t.id] + size_fiber[t.id] - count.get((t.id, Event.END), 0)
        for event, base, n in (
            (Event.BEG, start_fiber[t.id], st.nfib),
            (Event.ITE, start_iter[t.id], st.n),
            (Event.END, end_start, st.nfib),
        ):
            group = regs.get((t.id, event), [])
            if not group:
                continue
            fill = FILL.pick(n * len(group))
            if fill is not FILL.plain:
                fill(reg, inst, base, np.array(group, dtype=np.int64))
                continue
            instances = np.arange(n, dtype=np.int64)
            for k, r in enumerate(group):  # instance i pushes the group at base[i] + k
                at = base + k
                reg[at] = r
                inst[at] = instances
    run.entries = QueueEntry(reg, inst)
    run.start_iter = start_iter
