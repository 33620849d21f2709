"""One round of the shared HBM between two resumes of the STeP solve (`event_times.py`):
find the requests issued and not served, serve those no unfired step can precede, and
list the data steps they release. Plain Python, compiled by numba once the work pays for
loading it (`jit.Kernel.pick`): a MoE layer's solve runs some 1,500 rounds over ~400
off-chip ops, where the same round as numpy calls cost ~100 us of call overhead each.

Requests are numbered in (node, event) order; off-chip op i's are first[i] (its first
not served yet) up to the count issued so far, `issued_by[at[i] + fired steps]`: an op
issues its requests in event order and the HBM serves those issued before a time, so
what an op has issued and the HBM not served is a run of its requests."""

from __future__ import annotations

import numpy as np

from interpreter.core.jit import Kernel


def serve_round(
    fired, start, unit, at, issued_by, first, op, step, delay, service, data_step,
    latency, free, back, cand, issue, release_step, release_time,
):  # fmt: skip
    """Serve the waiting requests that no other can precede, one at a time in order of
    issue (ties: request order), each `service` cycles from when both the server is free
    and the request issued, its data back at the next whole cycle plus `latency`. A
    request not issued yet waits for the data of a waiting one (or of one served
    earlier), so it issues no sooner than the earliest time a waiting one could be back:
    those issued before that go now. Writes each served request's data-back time to
    `back`, moves `first` past it and advances the server's `free[0]`; `cand` and `issue`
    are scratch (one slot per request). Returns how many data steps it released (the
    first entries of `release_step` / `release_time`, in request order), or -1 when no
    request was waiting."""
    n = 0
    for i in range(len(unit)):
        for r in range(first[i], issued_by[at[i] + fired[unit[i]]]):
            cand[n] = r
            issue[n] = start[step[r]] + delay[r]
            n += 1
    if n == 0:
        return -1
    f = free[0]
    soonest = np.inf
    for j in range(n):
        soonest = min(soonest, np.ceil(max(f, issue[j]) + service[cand[j]]))
    soonest += latency
    m = 0
    for j in range(n):  # the ones that go now, kept in request order
        if issue[j] < soonest:
            cand[m] = cand[j]
            issue[m] = issue[j]
            m += 1
    for j in np.argsort(issue[:m], kind="mergesort"):  # stable: ties in request order
        r = cand[j]
        f = max(f, issue[j]) + service[r]
        back[r] = np.ceil(f) + latency
        first[op[r]] += 1
    free[0] = f
    k = 0
    for j in range(m):
        r = cand[j]
        if data_step[r] >= 0:
            release_step[k] = data_step[r]
            release_time[k] = back[r]
            k += 1
    return k


# work measured in off-chip ops scanned plus requests served, ~1 us each in the plain loop
# (a MoE layer's 1,276 rounds over 388 ops: 0.6 s plain, 0.1 s compiled): compiled after
# ~20 ms of plain rounds once numba is loaded anyway (the solver's loop ran compiled),
# else after about as long as loading numba takes
SERVE_ROUND = Kernel(serve_round, compile_from=1_000_000, once_loaded_from=20_000)


def warm_up() -> None:
    """Compile (or load) the kernel, calling it once (see `interpreter.core.jit.warm_up`)."""
    ints, times = np.zeros(2, dtype=np.int64), np.zeros(2)
    SERVE_ROUND.compiled()(
        ints, times, ints[:1], ints[:1], np.array([0, 1]), np.zeros(1, dtype=np.int64), ints,
        ints, times, times + 1, ints - 1, 0.0, np.zeros(1), np.zeros(2), np.zeros(2, np.int64),
        np.zeros(2), np.zeros(2, np.int64), np.zeros(2),
    )  # fmt: skip
