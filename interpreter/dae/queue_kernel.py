"""Loops over every queue entry of a run, compiled by numba: a scalar loop's iterations
(`ITERATE`), the positions its loads read (`FLAT`), the push layout's fill (`FILL`), the match of operands with pops (`MATCH`),
the tokens of each case (`GROUP`), the callbacks' pops (`POP`), their writes (`WRITE`),
the access work charged to each push (`WORK`), the pushes their own work set (`TIGHT`, for
the critical path), how long the others waited (`STALLS`) and a queue's peak occupancy
(`PEAK`).

Why: a suite task pushes ~10^6 entries, and each of these steps took several numpy passes
over them (a 2-D scatter; gathers through the token and case of every operand, and through
the push of every pop; a binary search per push). Compiled, each is one loop at a few
nanoseconds an entry. They run compiled once numba is loaded anyway (the coupling's solver
loads it for any run of this size) and a process has seen enough entries to pay for
loading their cached code; until then the callers keep their numpy forms, which give the
same results (the tests hold the two to it).
"""

from __future__ import annotations

import numpy as np

from interpreter.core.jit import Kernel
from interpreter.dae.cache_kernel import DRAM


def flat_positions(i0, i1, i2, shape):
    """Row-major positions of `len(shape)` (1-3) index vectors (`i0`, `i1`, `i2`; the ones
    past the rank are not read) into an array of `shape`, and whether every index is in
    bounds (else the positions are not all written)."""
    flat = np.empty(len(i0), dtype=np.int64)
    rank = len(shape)
    for j in range(len(i0)):
        f = 0
        for d in range(rank):
            v = i0[j] if d == 0 else (i1[j] if d == 1 else i2[j])
            if v < 0 or v >= shape[d]:
                return flat, False
            f = f * shape[d] + v
        flat[j] = f
    return flat, True


def fill_pushes(reg, inst, base, group):
    """Instance i of a registration group pushes `group[k]` at `base[i] + k`: write those
    registrations and instances into the push order's columns."""
    for i in range(len(base)):
        for k in range(len(group)):
            reg[base[i] + k] = group[k]
            inst[base[i] + k] = i


def iterate(lo, chunks, step, n):
    """All `n` iterations of a scalar TU, fiber after fiber: fiber f runs `chunks[f]` of
    them, its k-th at `lo[f] + k * step`. Returns each one's fiber and induction value."""
    owner = np.empty(n, dtype=np.int64)
    iv = np.empty(n, dtype=np.int64)
    i = 0
    for f in range(len(chunks)):
        for k in range(chunks[f]):
            owner[i] = f
            iv[i] = lo[f] + k * step
            i += 1
    return owner, iv


def match_entries(reg, reg_code, npops, pop_start, flat_pops, qc, qd):
    """`execute.match_queues`' arrays in three passes over the push order: entry e is a token
    of case c when `reg_code[reg[e]]` is -1 - c, else an operand of that kind; token t (of
    case c) pops operands in turn, each expecting kind `flat_pops[pop_start[c] + k]`.
    Returns the tokens' and operands' entries, each token's case and first operand, each
    operand's popping token (`owner`, as many as the tokens pop), the first operand whose
    pushed kind differs from its pop's (len(owner) when none), and, when every operand
    matches, the first token that deadlocks bounded queues of depths `qc` (control) and
    `qd` (data) on each of the two counts of `execute._first_blocked` (-1: none)."""
    nt = 0
    for e in range(len(reg)):
        if reg_code[reg[e]] < 0:
            nt += 1
    nd = len(reg) - nt
    token_pos = np.empty(nt, dtype=np.int64)
    tok_case = np.empty(nt, dtype=np.int64)
    data_first = np.empty(nt, dtype=np.int64)
    data_pos = np.empty(nd, dtype=np.int64)
    t = 0
    d = 0
    total = 0
    for e in range(len(reg)):
        code = reg_code[reg[e]]
        if code < 0:
            token_pos[t] = e
            tok_case[t] = -1 - code
            data_first[t] = total
            total += npops[-1 - code]
            t += 1
        else:
            data_pos[d] = e
            d += 1
    owner = np.empty(total, dtype=np.int64)
    bad = total
    j = 0
    for t in range(nt):
        c = tok_case[t]
        for k in range(npops[c]):
            owner[j] = t
            if (
                bad == total
                and j < nd
                and flat_pops[pop_start[c] + k] != reg_code[reg[data_pos[j]]]
            ):
                bad = j
            j += 1
    control = -1
    data = -1
    if bad == total and total == nd:
        if nd > 0:
            for t in range(nt - 1 - qc):
                c = tok_case[t]
                if npops[c] > 0 and token_pos[t + 1 + qc] < data_pos[data_first[t] + npops[c] - 1]:
                    control = t
                    break
        for t in range(nt if control < 0 else 0):  # (the control count is reported first)
            if data_first[t] >= nd - qd:
                break
            if data_pos[data_first[t] + qd] < token_pos[t]:
                data = t
                break
    return token_pos, data_pos, tok_case, data_first, owner, bad, control, data


def pop_operands(data_pos, first, reg, inst, out, shared):
    """Pop k of token i reads data-queue operand `first[i] + k` (pushed at `data_pos`): write
    its instance into `out[k, i]`, and into `shared[k]` the registration that pushed pop k's
    operands of every token, or -1 when several did."""
    for k in range(out.shape[0]):
        shared[k] = -2  # none seen yet
    for i in range(len(first)):
        for k in range(out.shape[0]):
            e = data_pos[first[i] + k]
            out[k, i] = inst[e]
            if shared[k] == -2:
                shared[k] = reg[e]
            elif reg[e] != shared[k]:
                shared[k] = -1


def group_tokens(tok_case, ncases):
    """The tokens of each case, in order (a stable counting sort): case c's are
    `order[start[c]:start[c + 1]]`."""
    start = np.zeros(ncases + 1, dtype=np.int64)
    for t in range(len(tok_case)):
        start[tok_case[t] + 1] += 1
    for c in range(ncases):
        start[c + 1] += start[c]
    order = np.empty(len(tok_case), dtype=np.int64)
    cursor = start[:-1].copy()
    for t in range(len(tok_case)):
        c = tok_case[t]
        order[cursor[c]] = t
        cursor[c] += 1
    return order, start


# `write_effects`' kinds of write, by the name of the op's fn ("store" for a store)
WRITES = {"store": 0, "add": 1, "mul": 2, "max": 3, "min": 4}


def write_effects(target, flat, values, kind, sort):
    """Apply write `sort[i]` for i in order, one at a time: store or accumulate (`WRITES`:
    `kind`) `values[j]` into `target[flat[j]]` (j = sort[i])."""
    for i in range(len(sort)):
        j = sort[i]
        at = flat[j]
        if kind[j] == 0:
            target[at] = values[j]
        elif kind[j] == 1:
            target[at] = target[at] + values[j]
        elif kind[j] == 2:
            target[at] = target[at] * values[j]
        elif kind[j] == 3:  # numpy's maximum: NaN wins, and of equals (+-0) the value
            if not (target[at] > values[j] or target[at] != target[at]):
                target[at] = values[j]
        elif not (target[at] < values[j] or target[at] != target[at]):  # (minimum, alike)
            target[at] = values[j]


def access_work(starts, entry, level, load, lat, outstanding, port, line, rates, n):
    """`simulator._access_work` in one pass over the TU iterations, one over the memory
    requests and one over the pushes (which see): the same sums, added in the same order,
    so the same floats. A division costs a loop more than the rest of its step: each of
    the few distinct quotients (a level's latency per miss slot, a push, a few steps) is
    divided once, and a zero divided by a positive rate is zero."""
    count = np.zeros(n + 1, dtype=np.int64)
    for i in range(len(starts)):
        if starts[i] <= n:  # (as bincount's first n + 1 counts)
            count[starts[i]] += 1
    held = np.empty(len(lat))  # by level: a request's latency per miss slot
    for k in range(len(lat)):
        held[k] = lat[k] / outstanding
    mem = np.zeros(n + 1)
    mem_wait = np.zeros(n + 1)
    dram = np.zeros(n + 1)
    occupancy = np.empty(len(entry))
    for r in range(len(entry)):
        latency = held[level[r]]
        occupancy[r] = max(port, latency)
        if load[r] < 0:  # the access side's
            e = entry[r]
            mem[e] += occupancy[r]
            if latency > port:
                mem_wait[e] += occupancy[r]
            if level[r] == DRAM:
                dram[e] += line
    steps = np.empty(n + 1)
    push = np.empty(n + 1)
    work = np.empty(n + 1)
    few = np.empty(16)  # the steps of a push's few iterations (nearly always < 16)
    for k in range(16):
        few[k] = k / rates[0]
    one_push = 1.0 / rates[1]
    for e in range(n + 1):
        k = count[e]
        most = few[k] if k < 16 else k / rates[0]
        steps[e] = most
        if dram[e] != 0.0:
            dram[e] = dram[e] / rates[2]
        push[e] = one_push if e < n else 0.0
        most = most if most > mem[e] else mem[e]
        most = most if most > dram[e] else dram[e]
        work[e] = most if most > push[e] else push[e]
        if mem_wait[e] != 0.0:  # now its share of `mem` (a share of 1 needs no division)
            mem_wait[e] = 1.0 if mem_wait[e] == mem[e] else mem_wait[e] / mem[e]
    return steps, mem, dram, push, work, mem_wait, occupancy


def tight_pushes(push, work, fill, owner, tokens, eps):
    """`critical_path.walk`'s arrays over the pushes in one pass (which see): whether each
    push was set by its own `work` (tight), the last push at or before each that was not
    (0 when none), and each token's last entry (-1: none)."""
    tight = np.empty(len(push), dtype=np.bool_)
    brk = np.empty(len(push), dtype=np.int64)
    last = np.full(tokens, -1, dtype=np.int64)
    prev = fill
    b = 0
    for e in range(len(push)):
        tight[e] = push[e] <= prev + work[e] + eps
        if not tight[e]:
            b = e
        brk[e] = b
        prev = push[e]
        if tokens:
            last[owner[e]] = e
    return tight, brk, last


def push_stalls(push, work):
    """How long each push after the first waited beyond its own work (for a full queue):
    `push[e] - (push[e - 1] + work[e])`, or 0 when not positive (numpy's `maximum(0, x)`:
    x when equal or NaN)."""
    out = np.empty(max(len(push) - 1, 0))
    for e in range(1, len(push)):
        wait = push[e] - (push[e - 1] + work[e])
        out[e - 1] = 0.0 if 0.0 > wait else wait
    return out


def peak_merge(push, at, pop, owner):
    """Most entries held at once: entry e, pushed at `push[at[e]]` (non-decreasing), has
    seen every entry before it popped whose pop time (`pop[owner[e]]`, in order) is at most
    its push time."""
    best = 0
    popped = 0
    for e in range(len(at)):
        while popped < e and pop[owner[popped]] <= push[at[e]]:
            popped += 1
        best = max(best, e + 1 - popped)
    return best


# The numpy forms cost ~0.02-0.07 us an entry, these loops compiled a few ns; loading a
# cached kernel costs ~0.05 s once numba is loaded: a process compiles each after about a
# million entries, and never just for these (`compile_from`: never, unless numba is loaded).
_NEVER = 1 << 62
FLAT = Kernel(flat_positions, compile_from=_NEVER, once_loaded_from=1_000_000)
ITERATE = Kernel(iterate, compile_from=_NEVER, once_loaded_from=1_000_000)
FILL = Kernel(fill_pushes, compile_from=_NEVER, once_loaded_from=1_000_000, allocates=False)
MATCH = Kernel(match_entries, compile_from=_NEVER, once_loaded_from=1_000_000)
GROUP = Kernel(group_tokens, compile_from=_NEVER, once_loaded_from=1_000_000)
WRITE = Kernel(write_effects, compile_from=_NEVER, once_loaded_from=1_000_000, allocates=False)
POP = Kernel(pop_operands, compile_from=_NEVER, once_loaded_from=1_000_000, allocates=False)
WORK = Kernel(access_work, compile_from=_NEVER, once_loaded_from=1_000_000)
TIGHT = Kernel(tight_pushes, compile_from=_NEVER, once_loaded_from=1_000_000)
STALLS = Kernel(push_stalls, compile_from=_NEVER, once_loaded_from=1_000_000)
PEAK = Kernel(peak_merge, compile_from=_NEVER, once_loaded_from=1_000_000, allocates=False)


def warm_up() -> None:
    """Compile (or load) the kernels, calling each once (see `interpreter.core.jit.warm_up`)."""
    ints = np.array([0, 1], dtype=np.int64)
    ITERATE.compiled()(ints, ints, 1, 1)
    FLAT.compiled()(ints, ints, ints, np.array([2, 2]))
    FILL.compiled()(np.zeros(4, dtype=np.int64), np.zeros(4, dtype=np.int64), ints * 2, ints)
    MATCH.compiled()(ints, np.array([-1, 0]), ints + 1, ints, ints, 1, 1)
    GROUP.compiled()(ints, 2)
    for dtype in (np.float32, np.int64):  # the dtypes of outputs
        WRITE.compiled()(np.zeros(2, dtype=dtype), ints, np.ones(2, dtype=dtype), ints, ints)
    POP.compiled()(ints, ints, ints, ints, np.zeros((1, 2), dtype=np.int64), ints.copy())
    PEAK.compiled()(np.array([0.0, 1.0]), ints, np.array([2.0, 2.0]), ints)
    lat = np.arange(5.0)  # (as the simulator passes them: latencies in float cycles)
    WORK.compiled()(ints, ints, ints + 3, ints - 1, lat, 2.0, 0.5, 64, np.ones(3), 2)
    STALLS.compiled()(np.array([1.0, 2.0]), np.ones(3))
    TIGHT.compiled()(np.array([1.0, 2.0]), np.ones(3), 0.5, ints, 2, 1e-9)
