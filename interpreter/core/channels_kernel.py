"""The compiled event loop of `channels.py` (numba, cached on disk after the first run).

Kept apart so that importing `interpreter.core.channels` (the CLI does, through the
dialects) never imports numba: only the first `solve` pays for it. Every array here is a
flat concatenation described in `channels._Flat`; steps are numbered globally
(`step_off[u] + s`) and tokens per channel (`tok_off[c] + m`, global token numbers).

A unit fires its steps in order, so the tokens of each channel are taken, emitted and
credited in order too: three cursors per channel (`take_cur`, `emit_cur`, `lag_cur`: the
next token the consumer takes, the producer emits, and whose lagged credit the producer
folds in) replace any per-step index, and the loop reads the token arrays front to back.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _inputs_done(u, in_off, in_ch, ch_prod, step_off, fired):
    """Whether every unit that u takes tokens from (other than u) fired all its steps."""
    for i in range(in_off[u], in_off[u + 1]):
        p = ch_prod[in_ch[i]]
        if p == u or fired[p] < step_off[p + 1] - step_off[p]:
            return False
    return True


@numba.njit(cache=True)
def _wake(v, queue, queued, head, size, n_units):
    """Put unit v at the ring's tail unless it is queued; the new size."""
    if queued[v]:
        return size
    queued[v] = True
    tail = head + size
    queue[tail - n_units if tail >= n_units else tail] = v
    return size + 1


@numba.njit(cache=True)
def _bulk(u, base, s, n_steps, release, cost, in_off, in_ch, ch_prod, step_off, tok_off,
          emit, take, latency, start, take_cur):  # fmt: skip
    """Every producer of u is done and nothing bounds it: ready times channel by channel,
    then one scan (stopping at a held step). Returns how many steps of u have fired."""
    for g in range(base + s, base + n_steps):
        start[g] = release[g]
    for i in range(in_off[u], in_off[u + 1]):
        c = in_ch[i]
        p = step_off[ch_prod[c]]
        for m in range(take_cur[c], tok_off[c + 1]):
            g = base + take[m]
            start[g] = max(start[g], start[p + emit[m]] + latency[m])
    while s < n_steps and release[base + s] != np.inf:
        if s > 0:
            start[base + s] = max(start[base + s], start[base + s - 1] + cost[base + s - 1])
        s += 1
    for i in range(in_off[u], in_off[u + 1]):
        c = in_ch[i]
        m, hi = take_cur[c], tok_off[c + 1]
        while m < hi and take[m] < s:
            m += 1
        take_cur[c] = m
    return s


@numba.njit(cache=True)
def run_events(step_off, cost, release, in_off, in_ch, out_off, out_ch,
               lag_off, lag_ch, ch_prod, ch_cons, ch_depth, tok_off, emit, take, latency,
               offset, order, start, fired, lag_seen, lag, take_cur, emit_cur,
               lag_cur):  # fmt: skip
    """Fire every step whose inputs and credits are known, unit by unit from a worklist;
    a unit that advanced wakes the units waiting for it (`in_*`: the channels whose tokens
    a unit takes; `out_*`: the bounded, not lagged channels it emits on, whose credits it
    checks as it emits; `lag_*` the lagged ones). `fired[u]` ends as the number of steps of
    u that could fire (all of them unless it deadlocks); `lag_seen[u]`, how many of its
    steps' lagged credits it has folded in, and `lag[u]` the latest of them (start: -inf).
    These and the cursors carry over to a resumed run. `order` is the first pass's order
    (topological where the units form no cycle: then a unit whose producers are done and
    whose channels out are unbounded runs all its steps at once)."""
    n_units = len(step_off) - 1
    queue = order.copy()  # a ring: each unit is in it at most once
    queued = np.ones(n_units, dtype=np.bool_)
    head, size = 0, n_units
    # A blocked unit waits for ONE unit w to fire more than `need` steps (the first check
    # that failed): it sleeps on w's list of waiters (`first`/`after`: linked lists) and
    # only w's progress past `need` wakes it, so no wake-up is wasted.
    first_waiter = np.full(n_units, -1, dtype=np.int64)
    next_waiter = np.full(n_units, -1, dtype=np.int64)
    need = np.zeros(n_units, dtype=np.int64)
    # where each cursor moves if the step being checked fires (committed when it does)
    take_to, emit_to, lag_to = take_cur.copy(), emit_cur.copy(), lag_cur.copy()
    while size > 0:
        u = queue[head]
        head = 0 if head + 1 == n_units else head + 1
        size -= 1
        queued[u] = False
        base = step_off[u]
        n_steps = step_off[u + 1] - base
        s = fired[u]
        was = s
        if s == n_steps:
            continue
        wait_on, wait_for = -1, 0  # -1: held, or done
        free = lag_off[u + 1] == lag_off[u] and out_off[u + 1] == out_off[u]
        if free and _inputs_done(u, in_off, in_ch, ch_prod, step_off, fired):
            s = _bulk(u, base, s, n_steps, release, cost, in_off, in_ch, ch_prod, step_off,
                      tok_off, emit, take, latency, start, take_cur)  # fmt: skip
            fired[u] = s
        while s < n_steps:
            # the step's start, unless some token it takes is not emitted yet or some token
            # it emits finds its channel full (the consumer has not taken the one d back)
            g = base + s
            t = release[g]
            if t == np.inf:  # held (ResumableSolve): stop here until it is released
                break
            if s > 0:
                t = max(t, start[g - 1] + cost[g - 1])
            blocked = False
            for i in range(in_off[u], in_off[u + 1]):
                c = in_ch[i]
                m, hi = take_cur[c], tok_off[c + 1]
                done = fired[ch_prod[c]]
                p = step_off[ch_prod[c]]
                while m < hi and take[m] == s:
                    if emit[m] >= done:
                        blocked = True
                        wait_on, wait_for = ch_prod[c], emit[m]
                        break
                    t = max(t, start[p + emit[m]] + latency[m])
                    m += 1
                if blocked:
                    break
                take_to[c] = m
            if blocked:
                break
            for i in range(out_off[u], out_off[u + 1]):
                c = out_ch[i]
                d = ch_depth[c]
                m, hi, k = emit_cur[c], tok_off[c + 1], tok_off[c]
                done = fired[ch_cons[c]]
                q = step_off[ch_cons[c]]
                while m < hi and emit[m] == s:
                    if m - k >= d:
                        if take[m - d] >= done:
                            blocked = True
                            wait_on, wait_for = ch_cons[c], take[m - d]
                            break
                        t = max(t, start[q + take[m - d]] + offset[m])
                    m += 1
                if blocked:
                    break
                emit_to[c] = m
            if blocked:
                break
            if lag_off[u + 1] > lag_off[u]:
                # lagged credits: step s-1's are needed first; s's own only if s stalls
                for late in range(2):
                    if late == 0 and (s == 0 or lag_seen[u] >= s):
                        continue
                    if late == 1 and s > 0 and t == start[g - 1] + cost[g - 1] and lag[u] <= t:
                        break
                    step = s - 1 + late  # == lag_seen[u]: credits are folded step by step
                    bound = -np.inf
                    for i in range(lag_off[u], lag_off[u + 1]):
                        c = lag_ch[i]
                        d = ch_depth[c]
                        m, hi, k = lag_cur[c], tok_off[c + 1], tok_off[c]
                        done = fired[ch_cons[c]]
                        q = step_off[ch_cons[c]]
                        while m < hi and emit[m] == step:
                            if m - k >= d:
                                if take[m - d] >= done:
                                    blocked = True
                                    wait_on, wait_for = ch_cons[c], take[m - d]
                                    break
                                bound = max(bound, start[q + take[m - d]] + offset[m])
                            m += 1
                        if blocked:
                            break
                        lag_to[c] = m
                    if blocked:
                        break
                    for i in range(lag_off[u], lag_off[u + 1]):
                        lag_cur[lag_ch[i]] = lag_to[lag_ch[i]]
                    lag[u] = max(lag[u], bound)
                    lag_seen[u] = step + 1
                    if late == 1:
                        t = max(t, lag[u])
                if blocked:
                    break
            start[g] = t
            for i in range(in_off[u], in_off[u + 1]):
                take_cur[in_ch[i]] = take_to[in_ch[i]]
            for i in range(out_off[u], out_off[u + 1]):
                emit_cur[out_ch[i]] = emit_to[out_ch[i]]
            s += 1
            fired[u] = s
        if s < n_steps and wait_on >= 0:
            need[u] = wait_for
            next_waiter[u] = first_waiter[wait_on]
            first_waiter[wait_on] = u
        if s == was:
            continue
        v, last = first_waiter[u], -1
        while v >= 0:  # wake the waiters whose wait is over
            after = next_waiter[v]
            if s > need[v]:
                if last < 0:
                    first_waiter[u] = after
                else:
                    next_waiter[last] = after
                size = _wake(v, queue, queued, head, size, n_units)
            else:
                last = v
            v = after
