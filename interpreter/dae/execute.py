"""Functional semantics of the execute side and of the two queues between the halves.

The core pops a token from the control queue, runs that case, and the case pops its
operands from the data queue. Given the access side's push order this is checked and run
with arrays:

- **protocol**: the operands the cases pop, in token order, must be exactly the operands
  pushed (same count, and each pop the same dtype, form and length as its push);
- **deadlock** under bounded queues (depths from the target): the core waits on an operand
  the access side can only push after a control token that no longer fits, or on a token
  behind operands that no longer fit;
- **cases** run batched: every token of a case at once, the case's ops (`Case.nodes`) on
  the shared pass walker (`interpreter.core.walker`), one rule per op. Counters are prefix
  sums over the token order; memory effects (store, accumulate) are applied afterwards in
  exact program order (token, then op, then lane), so results equal a one-token-at-a-time
  run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from dsl.core.ir import Port
from dsl.core.spec import SEMANTICS
from dsl.dae.checks import MAX_INT
from dsl.dae.ir import Case, Form, Op, OpNode, Program
from dsl.dae.ops import DAE, EXECUTE
from interpreter.core.walker import Walker
from interpreter.dae.access import ALU, AccessRun, flat_index, resolve
from interpreter.dae.queue_kernel import GROUP, MATCH, POP, WRITE, WRITES
from interpreter.errors import ExecutionError

_DTYPE = {"int64": np.int64, "float32": np.float32}
MAX_EXECUTE_ELEMENTS = 1 << 25
"""Cap on the elements the batched cases of one run may compute (values and writes), so
that a program cannot make the trusted side allocate without bound."""


@dataclass
class QueueMatch:
    """Who pops what: the token sequence and, for each data push, its popping token."""

    tokens: np.ndarray  # case id per token, in order
    token_pos: np.ndarray  # push index (global order) of each token
    data_pos: np.ndarray  # push index of each operand, in data-queue order
    data_owner: np.ndarray  # token index that pops each operand
    data_first: np.ndarray  # index of each token's first operand
    tok_case: np.ndarray  # position in `Program.cases` of each token's case


@dataclass
class CheckedRun:
    """What a functional run computed before its memory effects: the access side, the queue
    match (under `depths`) and the callbacks' loads. The simulator times exactly these, so
    a checked run hands them on rather than have the simulator compute them again: they
    read inputs only (validation keeps loads off outputs, and stores and accumulates off
    inputs), so they are the same for the simulator's zeroed outputs."""

    run: AccessRun
    sched: QueueMatch
    loads: list[CoreLoad]
    depths: tuple[int, int]


def _kind_name(dtype: str, form: Form, length: int) -> str:
    return f"{form.value}<{dtype}>" if form is not Form.BUFFER else f"buffer<{dtype}, {length}>"


def match_queues(run: AccessRun, qdepth_control: int, qdepth_data: int) -> QueueMatch:
    """Match pushes with pops; raise ExecutionError on a protocol mismatch or deadlock."""
    p = run.program
    regs = p.registrations
    case_index = {c.id: k for k, c in enumerate(p.cases)}
    # kind codes: one small int per distinct (dtype, form, length)
    kinds: dict[tuple, int] = {}
    # per registration: its operand's kind code (>= 0), or -1 - the position of its case in
    # the compute loop for a token; one lookup per push then splits and classifies them
    reg_code = np.empty(len(regs), dtype=np.int64)
    for i, r in enumerate(regs):
        if r.case is not None:
            reg_code[i] = -1 - case_index[r.case]
        else:
            s = p.streams[r.stream]
            form, n = run.stream_shape(s)
            reg_code[i] = kinds.setdefault((_stream_dtype(run, s), form, n), len(kinds))
    pops = []
    for c in p.cases:
        codes = [
            kinds.setdefault(
                (o.dtype, o.form, resolve(o.length, run.dims, f"case {c.id} pop")), len(kinds)
            )
            for o in c.ops
            if o.op == "pop"
        ]
        pops.append(np.array(codes, dtype=np.int64))
    npops = np.array([len(x) for x in pops], dtype=np.int64)
    flat_pops = np.concatenate(pops) if pops else np.zeros(0, dtype=np.int64)
    pop_start = np.cumsum(npops) - npops
    qc, qd = qdepth_control, qdepth_data
    match = MATCH.pick(len(run.entries.reg))
    if match is MATCH.plain or qc < 0 or qd < 0:
        match = _match_entries
    token_pos, data_pos, tok_case, data_first, owner, bad, control, data = match(
        run.entries.reg, reg_code, npops, pop_start, flat_pops, qc, qd
    )
    expected_total, pushed = len(owner), len(data_pos)

    def local(j: int) -> int:
        return j - int(data_first[owner[j]])

    names = {v: _kind_name(*k) for k, v in kinds.items()}
    if bad < min(expected_total, pushed):
        j = int(bad)
        case = p.cases[tok_case[owner[j]]]
        expected = int(flat_pops[pop_start[tok_case[owner[j]]] + local(j)])
        reg = int(run.entries.reg[data_pos[j]])
        r = regs[reg]
        raise ExecutionError(
            f"protocol mismatch: case {case.id} ({case.name}) pop #{local(j)} expects"
            f" {names[expected]} but the data queue holds {names[int(reg_code[reg])]}"
            f" pushed by stream {r.stream} on TU {r.tu} {r.event.value}"
        )
    if expected_total > pushed:
        j = pushed
        case = p.cases[tok_case[owner[j]]]
        raise ExecutionError(
            f"deadlock: case {case.id} ({case.name}) pops operand #{local(j)} in its run"
            f" for token {int(owner[j])}, but the access side pushed only {pushed}"
            " operands in total; the core waits forever"
        )
    if expected_total < pushed:
        r = regs[run.entries.reg[data_pos[expected_total]]]
        raise ExecutionError(
            f"protocol mismatch: {pushed - expected_total} operands are pushed but never"
            f" popped (first: stream {r.stream} on TU {r.tu} {r.event.value}); every operand"
            " needs a pop in the case that consumes it"
        )
    _raise_deadlock(p, tok_case, (int(control), int(data)), qc, qd)
    tokens = np.array([c.id for c in p.cases] or [0], dtype=np.int64)[tok_case]
    return QueueMatch(tokens, token_pos, data_pos, owner, data_first, tok_case)


def _match_entries(
    reg: np.ndarray,
    reg_code: np.ndarray,
    npops: np.ndarray,
    pop_start: np.ndarray,
    flat_pops: np.ndarray,
    qc: int,
    qd: int,
) -> tuple:
    """`queue_kernel.match_entries` (which see) in arrays, for a process that has not
    compiled it: the same entries, owners, first mismatch and deadlocking tokens."""
    entry_code = reg_code[reg]
    entry_token = entry_code < 0
    token_pos = np.flatnonzero(entry_token)
    data_pos = np.flatnonzero(~entry_token)
    tok_case = -1 - entry_code[token_pos]
    per_token = npops[tok_case] if len(tok_case) else np.zeros(0, dtype=np.int64)
    data_first = np.cumsum(per_token) - per_token
    total = int(per_token.sum())
    owner = np.repeat(np.arange(len(tok_case)), per_token)
    # operand j is pop #(j - data_first[owner[j]]) of its token's case
    expected = flat_pops[np.repeat(pop_start[tok_case] - data_first, per_token) + np.arange(total)]
    n = min(total, len(data_pos))
    mismatch = np.flatnonzero(expected[:n] != entry_code[data_pos[:n]])
    bad = int(mismatch[0]) if mismatch.size else total
    control = data = -1
    if bad == total == len(data_pos):
        control, data = _first_blocked(token_pos, data_pos, per_token, data_first, qc, qd)
    return token_pos, data_pos, tok_case, data_first, owner, bad, control, data


def _stream_dtype(run: AccessRun, s) -> str:
    while s.op == "buffer":
        s = run.program.streams[s.source]
    if s.op == "load":
        return "float32" if run.memrefs[s.memref].dtype.kind == "f" else "int64"
    return "int64"


def _first_blocked(token_pos, data_pos, per_token, data_first, qc: int, qd: int) -> tuple[int, int]:
    """With everything matched, can bounded queues still stall both sides for good? The
    first token that stalls them on each count (-1: none), as `_raise_deadlock` reads them.

    While the core waits for an operand of token t it has popped tokens 0..t, so the access
    side can push tokens only below t + 1 + qc; if one of those comes before that operand in
    push order, neither side moves (it suffices to look at each token's last operand: the
    latest pushed). Symmetrically for a token behind too many operands.
    """
    nt, nd = len(token_pos), len(data_pos)
    control = data = -1
    m = max(nt - 1 - qc, 0)  # tokens t with t + 1 + qc < nt
    if nd and m:
        popping = per_token[:m] > 0
        last = np.where(popping, data_first[:m] + per_token[:m] - 1, 0)
        blocked = popping & (token_pos[1 + qc : nt] < data_pos[last])
        if blocked.any():
            control = int(np.argmax(blocked))
    if nt and control < 0:
        m = int(np.searchsorted(data_first, nd - qd))  # data_first[i] + qd < nd for i < m
        blocked = data_pos[data_first[:m] + qd] < token_pos[:m]
        if blocked.any():
            data = int(np.argmax(blocked))
    return control, data


def _raise_deadlock(p: Program, tok_case, blocked: tuple[int, int], qc: int, qd: int) -> None:
    """The deadlock error of the first stalling token `_first_blocked` found, if any."""
    control, data = blocked
    if control >= 0:
        case = p.cases[tok_case[control]]
        raise ExecutionError(
            f"deadlock: case {case.id} ({case.name}) waits for an operand that is"
            f" pushed after {qc} more control tokens, but the control queue holds"
            f" only {qc}; push operands no later than the event of their callback"
        )
    if data >= 0:
        case = p.cases[tok_case[data]]
        raise ExecutionError(
            f"deadlock: the token of case {case.id} ({case.name}) is pushed after more"
            f" than {qd} operands it cannot yet pop; the data queue (depth {qd})"
            " fills first"
        )


# ------------------------------------------------------------------------- running cases


@dataclass
class CoreLoad:
    """Element positions one execute-side `load` op read, for the cache model: `flat` is
    (tokens,) or (tokens, width), `mask` the lanes actually read (None: all)."""

    case: int
    op: int  # position of the op in its case
    memref: str
    which: np.ndarray  # token indices
    flat: np.ndarray
    mask: np.ndarray | None


@dataclass
class Effect:
    """Writes of one store/accumulate op over all its tokens, with their program order."""

    memref: str
    fn: str  # "store" or an accumulate fn
    order: np.ndarray  # sort key per element
    flat: np.ndarray
    values: np.ndarray


def run_cases(run: AccessRun, sched: QueueMatch, outputs: dict[str, np.ndarray]) -> list[CoreLoad]:
    """Run every case over all its tokens and apply the memory effects in program order.
    Returns what the execute-side loads read (the simulator times them).

    Two phases, so that counters can be prefix sums over the token order although an
    increment may add a runtime amount: first every op that no counter value reaches (the
    pops, and so every increment's amount), then the counters' values before each token,
    then the ops that read a counter."""
    p = run.program
    max_ops = max((len(c.ops) for c in p.cases), default=1) + 1
    budget = [MAX_EXECUTE_ELEMENTS]
    runs = []
    group = GROUP.pick(len(sched.tok_case))
    if group is not GROUP.plain:
        order, start = group(sched.tok_case, len(p.cases))
    for k, case in enumerate(p.cases):
        if group is GROUP.plain:
            which = np.flatnonzero(sched.tok_case == k)
        else:
            which = order[start[k] : start[k + 1]]
        if which.size:
            late = _reads_counters(case)
            cx = _CaseRun(run, sched, case, which, late, outputs, max_ops, budget)
            cx.run_ops(early=True)
            runs.append(cx)
    counters_before = _counter_values(p, len(sched.tokens), runs)
    effects: list[Effect] = []
    loads: list[CoreLoad] = []
    for cx in runs:
        cx.counters_before = counters_before
        cx.run_ops(early=False)
        effects += cx.effects
        loads += sorted(cx.loads, key=lambda load: load.op)  # the cache sees them in op order
    _apply(effects, outputs)
    return loads


def _reads_counters(case: Case) -> frozenset[int]:
    """Positions of the case's ops that a counter's value reaches (`get` and its users)."""
    counted: set[int] = set()
    late = set()
    for k, op in enumerate(case.ops):
        if op.op == "get" or any(a in counted for a in op.args):
            late.add(k)
            if op.id is not None:
                counted.add(op.id)
    return frozenset(late)


def _counter_values(p: Program, ntok: int, runs: list[_CaseRun]) -> list[np.ndarray]:
    """Each counter's value before each token: its init plus the amounts of earlier tokens.

    A counter is a core register: a value outside +-MAX_INT after some callback is an
    error naming the counter and the token. Every amount is within +-MAX_INT (static ones by
    validation, runtime ones when they run) and a case has at most MAX_NODES ops, so each
    token moves a counter by under 2**46 and the first sum out of range is found before
    int64 could wrap."""
    values = []
    for c in p.counters:
        per = np.zeros(ntok, dtype=np.int64)
        for cx in runs:
            for _, counter, amount in cx.increments:
                if counter == c.id:
                    per[cx.which] += amount
        after = c.init + np.cumsum(per)
        out = np.flatnonzero((after > MAX_INT) | (after < -MAX_INT))
        if out.size:
            t = int(out[0])
            case = next(cx.case for cx in runs if t in cx.which)
            raise ExecutionError(
                f"counter {c.id}: after token {t} (case {case.id} ({case.name})) its value"
                f" would be {int(after[t])}, outside a core register's +-{MAX_INT}"
            )
        values.append(after - per)
    return values


def _operand(
    run: AccessRun, data_pos: np.ndarray, operands: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """The values (and lane masks) of data-queue operands `operands`, in that order."""
    slots = data_pos[operands]
    regs = run.entries.reg[slots]
    inst = run.entries.inst[slots]
    first = int(regs[0])
    if (regs == first).all():
        return run.operand_values(run.program.registrations[first], inst)
    parts = {int(r): np.flatnonzero(regs == r) for r in np.unique(regs)}
    values = mask = None
    for r, rows in parts.items():
        v, m = run.operand_values(run.program.registrations[r], inst[rows])
        if values is None:
            values = np.empty((len(slots),) + v.shape[1:], dtype=v.dtype)
            if m is not None:
                mask = np.ones((len(slots),) + v.shape[1:], dtype=bool)
        values[rows] = v
        if m is not None and mask is not None:
            mask[rows] = m
    return values, mask


@dataclass
class _CaseRun:
    """One case evaluated over all its tokens (`which`: their indices in token order): the
    context its ops' rules read and write. A value is an (array, lane mask) pair with a
    row per token."""

    run: AccessRun
    sched: QueueMatch
    case: Case
    which: np.ndarray
    late: frozenset[int]  # ops a counter's value reaches: run once the counters are known
    outputs: dict[str, np.ndarray]
    max_ops: int
    budget: list[int]  # elements the run may still compute (shared by its cases)
    counters_before: list[np.ndarray] = field(default_factory=list)  # per counter, per token
    values: dict[Port, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)
    increments: list[tuple[int, int, np.ndarray | int]] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    loads: list[CoreLoad] = field(default_factory=list)
    popped: int = 0
    operands: np.ndarray | None = None  # each token's first operand (set by the first pop)
    # once `queue_kernel.POP` is compiled, set by the first pop: each pop's instances per
    # token, and the registration that pushed them all (-1: several)
    pops: tuple[np.ndarray, np.ndarray] | None = None

    def run_ops(self, early: bool) -> None:
        """Run the ops no counter reaches (`early`) or the others, in program order, on the
        values the earlier phase left."""
        phase = _Phase(tuple(n for n in self.case.nodes if (n.id in self.late) != early))
        self.values = _CasePass(phase, self).run(self.values)

    def spend(self, node: OpNode, made: int) -> None:
        """Charge `made` elements (the op's result or writes) to the run's element budget."""
        self.check(node, made)
        self.budget[0] -= made

    def check(self, node: OpNode, elements: int) -> None:
        if elements > self.budget[0]:
            raise ExecutionError(
                f"{_where(self, node)}: the callbacks of this run would compute more than"
                f" {MAX_EXECUTE_ELEMENTS} elements; use fewer or shorter rows"
            )


class _Phase(NamedTuple):
    """Some of a case's ops, as a graph for the walker."""

    nodes: tuple[OpNode, ...]


class _CasePass(Walker):
    """A case's ops on the shared pass walker, each by its op's execute-side rule, over all
    the case's tokens at once; every result counts against the run's element budget."""

    def __init__(self, phase: _Phase, cx: _CaseRun) -> None:
        super().__init__(phase, _RULES, cx)

    def store(self, node: OpNode, outputs: list, values: dict) -> None:
        super().store(node, outputs, values)
        if outputs:
            self.context.spend(node, outputs[0][0].size)

    def fail(self, node: OpNode, exc: Exception) -> Exception:
        """A run-time error keeps its own message; a numpy fault is named by the op."""
        if isinstance(exc, ExecutionError):
            return exc
        return ExecutionError(f"{_where(self.context, node)}: {type(exc).__name__}: {exc}")


# The rules: `rule(node, inputs, cx)` returns the op's value (none for an op without a
# result); the `Op` is `node.fields`, its position in the case `node.id`.


@DAE.implement(SEMANTICS, "execute.pop")
def _pop(node: OpNode, inputs: list, cx: _CaseRun) -> list:
    run, k = cx.run, cx.popped
    if k == 0:
        cx.operands = cx.sched.data_first[cx.which]  # each token's first operand
        npops = sum(op.op == "pop" for op in cx.case.ops)
        pop = POP.pick(npops * len(cx.which))
        if pop is not POP.plain:
            cx.pops = np.empty((npops, len(cx.which)), np.int64), np.empty(npops, np.int64)
            pop(cx.sched.data_pos, cx.operands, run.entries.reg, run.entries.inst, *cx.pops)
    if cx.pops is not None and cx.pops[1][k] >= 0:
        reg = run.program.registrations[cx.pops[1][k]]
        values, mask = run.operand_values(reg, cx.pops[0][k])
    else:  # (in arrays, or pushed by several registrations)
        values, mask = _operand(run, cx.sched.data_pos, cx.operands + k)
    cx.popped += 1
    return [(values.astype(_DTYPE[node.fields.dtype], copy=False), mask)]


@DAE.implement(SEMANTICS, "execute.const")
def _const(node: OpNode, inputs: list, cx: _CaseRun) -> list:
    op = node.fields
    return [(np.full(len(cx.which), op.value, dtype=_DTYPE[op.dtype]), None)]


@DAE.implement(SEMANTICS, "execute.arange")
def _arange(node: OpNode, inputs: list, cx: _CaseRun) -> list:
    n = resolve(node.fields.length, cx.run.dims, _where(cx, node))
    cx.check(node, n * len(cx.which))  # a view now, but arithmetic on it is not
    return [(np.broadcast_to(np.arange(n, dtype=np.int64), (len(cx.which), n)), None)]


@DAE.implement(SEMANTICS, "execute.get")
def _get(node: OpNode, inputs: list, cx: _CaseRun) -> list:
    op = node.fields
    value = cx.counters_before[op.counter][cx.which]
    for at, counter, amount in cx.increments:
        if counter == op.counter and at < node.id:  # this callback's own earlier increments
            value = value + amount
    return [(value, None)]


@DAE.implement(SEMANTICS, "execute.increment")
def _increment(node: OpNode, inputs: list, cx: _CaseRun) -> list:
    op = node.fields
    if not inputs:
        cx.increments.append((node.id, op.counter, op.by))
        return []
    amount = inputs[0][0]
    bad = np.flatnonzero((amount < 0) | (amount > MAX_INT))
    if bad.size:
        j = int(bad[0])
        raise ExecutionError(
            f"{_where(cx, node)}: amount {int(amount[j])} at token {int(cx.which[j])} is"
            f" outside [0, {MAX_INT}]; a counter advances by a runtime amount >= 0"
        )
    cx.increments.append((node.id, op.counter, amount))
    return []


def _where(cx: _CaseRun, node: OpNode) -> str:
    return f"case {cx.case.id} ({cx.case.name}) {node.label()}"


@DAE.implement(SEMANTICS, "execute.binary")
def _binary_op(node: OpNode, inputs: list, cx: _CaseRun) -> list:
    a, b = inputs
    return [_binary(node.fields, a, b, _where(cx, node))]


@DAE.implement(SEMANTICS, "execute.load", "execute.store", "execute.accumulate")
def _memory_op(node: OpNode, inputs: list, cx: _CaseRun) -> list:
    op = node.fields
    result = _memory(
        cx.run, op, inputs, cx.which, node.id, cx.max_ops, _where(cx, node), cx.outputs
    )
    if isinstance(result, Effect):
        cx.effects.append(result)
        cx.spend(node, result.flat.size)
        return []
    cx.loads.append(CoreLoad(cx.case.id, node.id, op.memref, cx.which, *result[2:]))
    return [result[:2]]


def _elementwise(args: list) -> tuple[list[np.ndarray], np.ndarray | None, bool]:
    """Operands of an element-wise op lined up: a scalar per token (1-D) beside a vector or
    row (2-D) becomes a column; lane masks combine; `floating` when any operand is float
    (then the op computes in float32)."""
    values = [v for v, _ in args]
    if any(v.ndim == 2 for v in values):
        values = [v[:, None] if v.ndim == 1 else v for v in values]
    mask = None
    for _, m in args:
        if m is not None:
            mask = m if mask is None else (mask & m)
    return values, mask, any(v.dtype.kind == "f" for v in values)


def _binary(op: Op, a, b, where: str):
    (x, y), mask, floating = _elementwise([a, b])
    if floating:
        x, y = x.astype(np.float32, copy=False), y.astype(np.float32, copy=False)
    if op.fn == "div":
        if floating:
            with np.errstate(divide="ignore", invalid="ignore"):
                return x / y, mask
        zero = y == 0
        if mask is not None:
            zero = zero & np.broadcast_to(mask, zero.shape)
        if zero.any():
            raise ExecutionError(f"{where}: integer division by zero")
        return x // np.where(y == 0, 1, y), mask
    return ALU[op.fn](x, y), mask


COMPARE = {
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "eq": np.equal,
    "ne": np.not_equal,
}


@DAE.implement(SEMANTICS, "execute.compare")
def _compare(node: OpNode, inputs: list, cx: _CaseRun) -> list:
    (x, y), mask, floating = _elementwise(inputs)
    if floating:  # as the hardware compares: both sides in float32
        x, y = x.astype(np.float32, copy=False), y.astype(np.float32, copy=False)
    return [(COMPARE[node.fields.fn](x, y).astype(np.int64), mask)]


@DAE.implement(SEMANTICS, "execute.select")
def _select(node: OpNode, inputs: list, cx: _CaseRun) -> list:
    (cond, x, y), mask, _ = _elementwise(inputs)
    if x.dtype.kind == "f" or y.dtype.kind == "f":
        x, y = x.astype(np.float32, copy=False), y.astype(np.float32, copy=False)
    return [(np.where(cond != 0, x, y), mask)]


def _memory(
    run: AccessRun,
    op: Op,
    args: list,
    which: np.ndarray,
    k: int,
    max_ops: int,
    where: str,
    outputs: dict[str, np.ndarray],
):
    mem = outputs[op.memref] if op.op != "load" else run.memrefs[op.memref]
    rank = mem.ndim
    idx = [a[0] for a in args[:rank]]
    masks = [a[1] for a in args if a[1] is not None]
    mask = masks[0] if masks else None
    for m in masks[1:]:
        mask = mask & m
    shaped = any(a[0].ndim == 2 for a in args)
    if shaped:
        width = max(a[0].shape[1] for a in args if a[0].ndim == 2)
        idx = [i if i.ndim == 2 else np.broadcast_to(i[:, None], (len(i), width)) for i in idx]
    flat = flat_index(idx, mem.shape, mask, f"{where} on {op.memref}")
    if op.op == "load":
        return mem.reshape(-1)[flat], mask, flat, mask
    value = args[rank][0]
    if shaped and value.ndim == 1:
        value = np.broadcast_to(value[:, None], flat.shape)
    order = which.astype(np.int64) * max_ops + k
    if shaped:
        order = np.broadcast_to(order[:, None], flat.shape)
    if mask is not None:
        flat, value, order = flat[mask], value[mask], order[mask]
    return Effect(
        op.memref,
        "store" if op.op == "store" else op.fn,
        order.reshape(-1),
        flat.reshape(-1),
        np.asarray(value, dtype=mem.dtype).reshape(-1),
    )


_ACCUMULATE = {
    "add": np.add,
    "max": np.maximum,
    "min": np.minimum,
    "mul": np.multiply,
    "div": np.divide,
}


def _apply(effects: list[Effect], outputs: dict[str, np.ndarray]) -> None:
    """Apply the writes of every output as if one at a time in program order: once
    `queue_kernel.WRITE` is compiled, one at a time indeed (but for a `div`), else in arrays.

    Per element only the last store counts, and after it the accumulates in order: so the
    stores go in at once (each element's last), then the accumulates that come after their
    element's last store, a run of one fn at a time (`ufunc.at` folds an element's values
    in order, so the results are bit for bit those of the one-at-a-time run)."""
    for name in {e.memref for e in effects if len(e.flat)}:  # (all lanes masked: none)
        mine = [e for e in effects if e.memref == name and len(e.flat)]
        target = outputs[name].reshape(-1)
        if target.dtype.kind in "iu" and any(e.fn == "div" for e in mine):
            raise ExecutionError(f"accumulate div on integer output {name!r}")
        fns = sorted({e.fn for e in mine})
        order = np.concatenate([e.order for e in mine])
        sort = np.argsort(order, kind="stable")
        write = WRITE.pick(len(order))
        if write is not WRITE.plain and "div" not in fns:  # (numba faults a float x / 0)
            lengths = [len(e.order) for e in mine]
            kind = np.repeat(np.array([WRITES[e.fn] for e in mine], dtype=np.int64), lengths)
            flat = np.concatenate([e.flat for e in mine])
            write(target, flat, np.concatenate([e.values for e in mine]), kind, sort)
            continue
        code = {f: i for i, f in enumerate(fns)}
        flat = np.concatenate([e.flat for e in mine])[sort]
        values = np.concatenate([e.values for e in mine])[sort]
        kind = np.concatenate([np.full(len(e.order), code[e.fn]) for e in mine])[sort]
        if "store" in code:
            stores = np.flatnonzero(kind == code["store"])
            rev_unique, first = np.unique(flat[stores][::-1], return_index=True)
            last = stores[::-1][first]  # each stored element's last store
            target[rev_unique] = values[last]
            after = np.full(len(target), -1, dtype=np.int64)
            after[rev_unique] = last
            keep = (kind != code["store"]) & (np.arange(len(flat)) > after[flat])
            flat, values, kind = flat[keep], values[keep], kind[keep]
        cuts = np.concatenate([[0], np.flatnonzero(np.diff(kind)) + 1, [len(kind)]])
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            if a < b:
                with np.errstate(divide="ignore", invalid="ignore"):
                    _ACCUMULATE[fns[int(kind[a])]].at(target, flat[a:b], values[a:b])


_RULES = {
    n.removeprefix(f"{EXECUTE}."): r
    for n, r in DAE.rules(SEMANTICS).items()
    if n.startswith(f"{EXECUTE}.")
}
"""The execute-side rules above, by the op names a case's nodes carry."""
