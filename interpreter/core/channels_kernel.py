"""The compiled event loop of `channels.py` (numba, cached on disk after the first run).

Kept apart so that importing `interpreter.core.channels` (the CLI does, through the
dialects) never imports numba: only the first `solve` pays for it. Every array here is a
flat concatenation described in `channels._Flat`; steps are numbered globally
(`step_off[u] + s`) and tokens per channel (`tok_off[c] + m`).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def step_pointers(tok_off, steps_of_token, unit_of_channel, step_off, ptr_off, ptr):
    """For every channel and every step s of the unit on that side (and s = steps), the
    first token whose step is >= s: the tokens of step s are ptr[s] .. ptr[s + 1] - 1."""
    for c in range(len(tok_off) - 1):
        lo, hi = tok_off[c], tok_off[c + 1]
        u = unit_of_channel[c]
        n_steps = step_off[u + 1] - step_off[u]
        base = ptr_off[c]
        m = lo
        for s in range(n_steps + 1):
            while m < hi and steps_of_token[m] < s:
                m += 1
            ptr[base + s] = m - lo


@numba.njit(cache=True)
def _inputs_done(u, in_off, in_ch, ch_prod, step_off, fired):
    """Whether every unit that u takes tokens from (other than u) fired all its steps."""
    for i in range(in_off[u], in_off[u + 1]):
        p = ch_prod[in_ch[i]]
        if p == u or fired[p] < step_off[p + 1] - step_off[p]:
            return False
    return True


@numba.njit(cache=True)
def run_events(step_off, cost, release, in_off, in_ch, cons_off, cons_ch, out_off, out_ch,
               lag_off, lag_ch,
               ch_prod, ch_cons, ch_depth, tok_off, emit, take, latency, offset, take_ptr_off,
               take_ptr, emit_ptr_off, emit_ptr, order, start, fired, lag_seen, lag):  # fmt: skip
    """Fire every step whose inputs and credits are known, unit by unit from a worklist;
    a unit that advanced wakes the units across its channels (`in_*`: the channels whose
    tokens a unit takes, `cons_*`: those plus the credit-only ones it consumes). `fired[u]`
    ends as the number of steps of u that could fire (all of them unless it deadlocks);
    `lag_seen[u]`, how many of its steps' lagged credits it has folded in, and `lag[u]` the
    latest of them (start: -inf). All three carry over to a resumed run. `order` is the
    first pass's order (topological where the units form no cycle: then a unit whose
    producers are done and whose channels out are unbounded runs all its steps at once)."""
    n_units = len(step_off) - 1
    queue = order.copy()  # a ring: each unit is in it at most once
    queued = np.ones(n_units, dtype=np.bool_)
    head, size = 0, n_units
    while size > 0:
        u = queue[head]
        head = 0 if head + 1 == n_units else head + 1
        size -= 1
        queued[u] = False
        base = step_off[u]
        n_steps = step_off[u + 1] - base
        s = fired[u]
        first = s
        if (
            s < n_steps
            and _inputs_done(u, in_off, in_ch, ch_prod, step_off, fired)
            and (lag_off[u + 1] == lag_off[u])
        ):
            free = True
            for i in range(out_off[u], out_off[u + 1]):
                free = free and ch_depth[out_ch[i]] == 0
            if free:  # nothing can block it: ready times channel by channel, then one scan
                for g in range(base + s, base + n_steps):
                    start[g] = release[g]
                for i in range(in_off[u], in_off[u + 1]):
                    c = in_ch[i]
                    k = tok_off[c]
                    p = step_off[ch_prod[c]]
                    for m in range(k + take_ptr[take_ptr_off[c] + s], tok_off[c + 1]):
                        start[base + take[m]] = max(start[base + take[m]],
                                                    start[p + emit[m]] + latency[m])  # fmt: skip
                while s < n_steps and release[base + s] != np.inf:
                    g = base + s
                    if s > 0:
                        start[g] = max(start[g], start[g - 1] + cost[g - 1])
                    s += 1
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
                k = tok_off[c]
                lo = take_ptr[take_ptr_off[c] + s]
                hi = take_ptr[take_ptr_off[c] + s + 1]
                if hi > lo and fired[ch_prod[c]] <= emit[k + hi - 1]:
                    blocked = True
                    break
                p = step_off[ch_prod[c]]
                for m in range(k + lo, k + hi):
                    t = max(t, start[p + emit[m]] + latency[m])
            if blocked:
                break
            for i in range(out_off[u], out_off[u + 1]):
                c = out_ch[i]
                d = ch_depth[c]
                if d == 0:
                    continue
                k = tok_off[c]
                lo = max(emit_ptr[emit_ptr_off[c] + s], d)
                hi = emit_ptr[emit_ptr_off[c] + s + 1]
                if hi > lo and fired[ch_cons[c]] <= take[k + hi - 1 - d]:
                    blocked = True
                    break
                q = step_off[ch_cons[c]]
                for m in range(k + lo, k + hi):
                    t = max(t, start[q + take[m - d]] + offset[m])
            if blocked:
                break
            if lag_off[u + 1] > lag_off[u]:
                # lagged credits: step s-1's are needed first; s's own only if s stalls
                for late in range(2):
                    if late == 0 and (s == 0 or lag_seen[u] >= s):
                        continue
                    if late == 1 and s > 0 and t == start[g - 1] + cost[g - 1] and lag[u] <= t:
                        break
                    step = s - 1 + late
                    bound = -np.inf
                    for i in range(lag_off[u], lag_off[u + 1]):
                        c = lag_ch[i]
                        d = ch_depth[c]
                        k = tok_off[c]
                        lo = max(emit_ptr[emit_ptr_off[c] + step], d)
                        hi = emit_ptr[emit_ptr_off[c] + step + 1]
                        if hi > lo and fired[ch_cons[c]] <= take[k + hi - 1 - d]:
                            blocked = True
                            break
                        q = step_off[ch_cons[c]]
                        for m in range(k + lo, k + hi):
                            bound = max(bound, start[q + take[m - d]] + offset[m])
                    if blocked:
                        break
                    lag[u] = max(lag[u], bound)
                    lag_seen[u] = step + 1
                    if late == 1:
                        t = max(t, lag[u])
                if blocked:
                    break
            start[g] = t
            s += 1
            fired[u] = s
        if s == first:
            continue
        for i in range(cons_off[u], cons_off[u + 1]):
            v = ch_prod[cons_ch[i]]
            if not queued[v]:
                queued[v] = True
                queue[head + size - n_units if head + size >= n_units else head + size] = v
                size += 1
        for i in range(out_off[u], out_off[u + 1]):
            v = ch_cons[out_ch[i]]
            if not queued[v]:
                queued[v] = True
                queue[head + size - n_units if head + size >= n_units else head + size] = v
                size += 1
        for i in range(lag_off[u], lag_off[u + 1]):
            v = ch_cons[lag_ch[i]]
            if not queued[v]:
                queued[v] = True
                queue[head + size - n_units if head + size >= n_units else head + size] = v
                size += 1
