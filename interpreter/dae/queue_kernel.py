"""Loops over every queue entry of a run, compiled by numba: the push layout's fill
(`FILL`), the match of operands with pops (`MATCH`), the callbacks' pops (`POP`) and a
queue's peak occupancy (`PEAK`).

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


def fill_pushes(reg, inst, base, group):
    """Instance i of a registration group pushes `group[k]` at `base[i] + k`: write those
    registrations and instances into the push order's columns."""
    for i in range(len(base)):
        for k in range(len(group)):
            reg[base[i] + k] = group[k]
            inst[base[i] + k] = i


def match_pops(tok_case, npops, pop_start, flat_pops, pushed, owner):
    """Token t pops operands in turn, each expecting kind `flat_pops[pop_start[c] + k]`
    (c its case, k its pop): fill `owner` (the popping token of each operand) and return
    the first operand whose pushed kind differs (len(owner) when none does)."""
    j = 0
    bad = len(owner)
    for t in range(len(tok_case)):
        c = tok_case[t]
        for k in range(npops[c]):
            owner[j] = t
            if bad == len(owner) and j < len(pushed) and flat_pops[pop_start[c] + k] != pushed[j]:
                bad = j
            j += 1
    return bad


def pop_operands(data_pos, operands, reg, inst, out):
    """Write into `out` the instance of each operand in `operands` (indices into the data
    queue, whose pushes are at `data_pos`); return the registration that pushed them all,
    or -1 when they come from several."""
    shared = -2  # none seen yet
    for i in range(len(operands)):
        e = data_pos[operands[i]]
        out[i] = inst[e]
        if shared == -2:
            shared = reg[e]
        elif reg[e] != shared:
            shared = -1
    return shared


def peak_merge(push, pop):
    """Most entries held at once: entry e, pushed at `push[e]` (non-decreasing), has seen
    every entry before it popped whose pop time is at most `push[e]`; `pop` is in order."""
    best = 0
    popped = 0
    for e in range(len(push)):
        while popped < e and pop[popped] <= push[e]:
            popped += 1
        best = max(best, e + 1 - popped)
    return best


# The numpy forms cost ~0.02-0.07 us an entry, these loops compiled a few ns; loading a
# cached kernel costs ~0.05 s once numba is loaded: a process compiles each after about a
# million entries, and never just for these (`compile_from`: never, unless numba is loaded).
_NEVER = 1 << 62
FILL = Kernel(fill_pushes, compile_from=_NEVER, once_loaded_from=1_000_000, allocates=False)
MATCH = Kernel(match_pops, compile_from=_NEVER, once_loaded_from=1_000_000, allocates=False)
POP = Kernel(pop_operands, compile_from=_NEVER, once_loaded_from=1_000_000, allocates=False)
PEAK = Kernel(peak_merge, compile_from=_NEVER, once_loaded_from=1_000_000, allocates=False)


def warm_up() -> None:
    """Compile (or load) the kernels, calling each once (see `interpreter.core.jit.warm_up`)."""
    ints = np.array([0, 1], dtype=np.int64)
    FILL.compiled()(np.zeros(4, dtype=np.int64), np.zeros(4, dtype=np.int64), ints * 2, ints)
    pops = np.array([0, 1, 1])
    MATCH.compiled()(ints, np.array([1, 2]), ints, pops, ints, np.zeros(3, dtype=np.int64))
    POP.compiled()(ints, ints, ints, ints, np.zeros(2, dtype=np.int64))
    PEAK.compiled()(np.array([0.0, 1.0]), np.array([2.0, 2.0]))
