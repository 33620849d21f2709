"""The event loop of `channels.py`, as plain Python that numba can compile.

One source, two speeds: `channels.py` runs these functions as they are for a small network
(a task's program: numba is then never imported, which saves a process over a second of
CPU) and compiled by numba (cached on disk) for a large one: `RUN_EVENTS`, a `jit.Kernel`.

Arrays are flat concatenations described in `channels._Flat`: steps are numbered globally
(`step_off[u] + s`), tokens per channel (0, 1, ...). A channel's per-token arrays are
stored only when they say something: `emit_at[c]` is where its emit steps start in `emit`,
or -1 when token j is emitted by step j (so for `take_at`/`take`); `lat_at[c]` is where
its latencies start in `latency`, or -1 when all are `ch_lat[c]` (so for offsets, and
for a unit's step costs: `cost_at[u]`, or -1 when all are `unit_cost[u]`). Most
channels of a dataflow graph are one token per step with one latency: they are then read
as arithmetic, not memory, which is what a visit's cost is mostly made of.

A unit fires its steps in order, so the tokens of each channel are taken, emitted and
credited in order too: cursors per channel (`take_cur`, `emit_cur`, `lag_cur`: the next
token the consumer takes, the producer emits, and whose lagged credit the producer folds
in) replace any per-step index.

A visit of a unit works in batches, not step by step. It first finds its *horizon*: the
first step some check would fail at (a token not emitted yet, a credit whose consumer has
not taken the token d back, a held step), each channel's scan resuming where the last one
stopped (what was known stays known: units only fire more). Every step before the horizon
can fire, so the tokens and credits of all of them are folded into their start times
channel by channel, and one scan over the steps adds the unit's own pace (and SAM's lagged
rule, the only rule that needs the steps in order). A unit woken but blocked again at once
costs one horizon check, nothing more.
"""

from __future__ import annotations

import numpy as np

from interpreter.core import jit


def _step(steps, at, j):
    """The step of token j of a channel whose steps start at `at` (-1: step j)."""
    return j if at < 0 else steps[at + j]


def _value(values, at, scalar, j):
    """Token j's value of a channel whose values start at `at` (-1: all `scalar`)."""
    return scalar if at < 0 else values[at + j]


def _inputs_block(j, n, emit, at, done):
    """The first token from j (before which all were emitted) that a producer with `done`
    steps fired has not emitted yet; n (the channel's length) if none."""
    if at < 0:
        return min(done, n)
    while j < n and emit[at + j] < done:
        j += 1
    return j


def _credit_block(j, n, take, at, depth, done):
    """The first token from j whose credit is not known: the consumer, `done` steps fired,
    has not taken the token `depth` back; n if none."""
    if at < 0:
        return min(done + depth, n)
    j = max(j, depth)
    while j < n and take[at + j - depth] < done:
        j += 1
    return min(j, n)


def _fold_inputs(c, j, last, start, base, src, ch_len, emit, emit_at, take, take_at,
                 latency, lat_at, ch_lat):  # fmt: skip
    """Fold the arrivals of channel c's tokens from j, taken by steps before `last`, into
    the starts of the steps taking them; the token it stopped at."""
    n, e_at, t_at, l_at = ch_len[c], emit_at[c], take_at[c], lat_at[c]
    if e_at < 0 and t_at < 0 and l_at < 0:  # one token per step on both sides
        end = max(j, min(n, last))
        lat = ch_lat[c]
        for i in range(j, end):
            start[base + i] = max(start[base + i], start[src + i] + lat)
        return end
    while j < n:
        s = _step(take, t_at, j)
        if s >= last:
            break
        arrival = start[src + _step(emit, e_at, j)] + _value(latency, l_at, ch_lat[c], j)
        start[base + s] = max(start[base + s], arrival)
        j += 1
    return j


def _fold_credits(c, j, last, into, start, base, dst, depth, ch_len, emit, emit_at, take, take_at,
                  offset, off_at, ch_off):  # fmt: skip
    """Fold the credits of channel c's tokens from j, emitted by steps before `last`, into
    `into[base + step]`: the consumer's start of the step taking the token `depth` back,
    plus the offset. The token it stopped at. (Ordinary and lagged credits alike.)"""
    n, e_at, t_at, o_at = ch_len[c], emit_at[c], take_at[c], off_at[c]
    if e_at < 0 and t_at < 0 and o_at < 0:
        end = max(j, min(n, last))
        off = ch_off[c]
        for i in range(max(j, depth), end):
            into[base + i] = max(into[base + i], start[dst + i - depth] + off)
        return end
    while j < n:
        s = _step(emit, e_at, j)
        if s >= last:
            break
        if j >= depth:
            bound = start[dst + _step(take, t_at, j - depth)] + _value(offset, o_at, ch_off[c], j)
            into[base + s] = max(into[base + s], bound)
        j += 1
    return j


def _credit_horizon(chs, lo, hi, horizon, ch_cons, ch_depth, ch_len, step_off, fired,
                    credit_ahead, emit, emit_at, take, take_at):  # fmt: skip
    """Over channels `chs[lo:hi]` a unit emits on: the first of its steps (before `horizon`)
    that lacks a credit, the consumer it then waits for (-1: none lacks one) and the take
    step that frees the credit. Advances each channel's `credit_ahead`."""
    on, wait_for = -1, 0
    for i in range(lo, hi):
        c = chs[i]
        q, d = ch_cons[c], ch_depth[c]
        if fired[q] == step_off[q + 1] - step_off[q]:
            continue
        j = _credit_block(credit_ahead[c], ch_len[c], take, take_at[c], d, fired[q])
        credit_ahead[c] = j
        if j < ch_len[c] and _step(emit, emit_at[c], j) < horizon:
            horizon, on = _step(emit, emit_at[c], j), q
            wait_for = _step(take, take_at[c], j - d)
    return horizon, on, wait_for


def _back(j, low, steps, at, fired):
    """A cursor walked back from j (not below `low`) to the first token of a step >= fired."""
    if at < 0:
        return max(low, min(j, fired))
    while j > low and steps[at + j - 1] >= fired:
        j -= 1
    return j


def _wake(v, queue, queued, head, size, n_units):
    """Put unit v at the ring's tail unless it is queued; the new size."""
    if queued[v]:
        return size
    queued[v] = True
    tail = head + size
    queue[tail - n_units if tail >= n_units else tail] = v
    return size + 1


def run_events(step_off, cost, cost_at, unit_cost, release, in_off, in_ch, out_off, out_ch,
               lag_off, lag_ch, ch_prod, ch_cons, ch_depth, ch_len, emit, emit_at, take,
               take_at, latency, lat_at, ch_lat, offset, off_at, ch_off, seed, start, fired,
               lag_seen, lag, take_cur, emit_cur, lag_cur, queue, queued, first_waiter,
               next_waiter, need, asleep, in_ahead, credit_ahead, folded, lag_bound):  # fmt: skip
    """Fire every step whose inputs and credits are known, unit by unit from a worklist;
    a unit that advanced wakes the units waiting for it (`in_*`: the channels whose tokens
    a unit takes; `out_*`: the bounded, not lagged channels it emits on, whose credits it
    checks as it emits; `lag_*` the lagged ones). `fired[u]` ends as the number of steps of
    u that could fire (all of them unless it deadlocks); `lag_seen[u]`, how many of its
    steps' lagged credits it has folded in, and `lag[u]` the latest of them (start: -inf).
    These, the cursors and the rest (the work arrays `queue` .. `lag_bound`, see below)
    carry over to a resumed run, which visits only the units in `seed` and those they wake:
    the first run's seed is every unit (topological where the units form no cycle: then a
    unit whose producers are done and whose channels out are unbounded runs all its steps
    in one visit), a resumed run's the units whose held steps were released. Every other
    unfinished unit is asleep on the unit it waits for (`asleep`), which wakes it, or stopped
    at a step still held, which only a release moves."""
    n_units = len(step_off) - 1
    # `queue` is a ring (each unit in it at most once, `queued`), empty between runs.
    # A blocked unit waits for ONE unit w to fire more than `need` steps (the first check
    # that failed): it sleeps on w's list of waiters (`first_waiter`/`next_waiter`: linked
    # lists) and only w's progress past `need` wakes it.
    # `in_ahead`/`credit_ahead`: per channel, where its horizon scan resumes (tokens known
    # there stay known); `folded`: where a visit's folds stopped; `lag_bound`: per step,
    # its lagged credits.
    head, size = 0, 0
    for i in range(len(seed)):
        v = seed[i]
        if not asleep[v] and fired[v] < step_off[v + 1] - step_off[v]:
            size = _wake(v, queue, queued, head, size, n_units)
    while size > 0:
        u = queue[head]
        head = 0 if head + 1 == n_units else head + 1
        size -= 1
        queued[u] = False
        base = step_off[u]
        n_steps = step_off[u + 1] - base
        s0 = fired[u]
        if s0 == n_steps:
            continue
        # the horizon: the first step a check fails at, and whom it then waits for
        # (checks in the order tokens in, credits, lagged credits: the first one wins)
        horizon, wait_on, wait_for = n_steps, -1, 0
        for i in range(in_off[u], in_off[u + 1]):
            c = in_ch[i]
            p = ch_prod[c]
            if fired[p] == step_off[p + 1] - step_off[p]:
                continue
            j = _inputs_block(in_ahead[c], ch_len[c], emit, emit_at[c], fired[p])
            in_ahead[c] = j
            if j < ch_len[c] and _step(take, take_at[c], j) < horizon:
                horizon, wait_on = _step(take, take_at[c], j), p
                wait_for = _step(emit, emit_at[c], j)
        h, on, w = _credit_horizon(out_ch, out_off[u], out_off[u + 1], horizon, ch_cons, ch_depth,
                                   ch_len, step_off, fired, credit_ahead, emit, emit_at, take,
                                   take_at)  # fmt: skip
        if on >= 0:
            horizon, wait_on, wait_for = h, on, w
        # lagged credits: step s needs s-1's (so none past lag_horizon + 1), and its own
        # only if it stalls (decided in the scan)
        lag_horizon, lag_on, lag_for = _credit_horizon(
            lag_ch, lag_off[u], lag_off[u + 1], n_steps, ch_cons, ch_depth, ch_len, step_off,
            fired, credit_ahead, emit, emit_at, take, take_at)  # fmt: skip
        if lag_horizon + 1 < horizon:
            horizon, wait_on, wait_for = lag_horizon + 1, lag_on, lag_for
        # the steps before the horizon start from their release; a held one (+inf,
        # ResumableSolve) ends the batch there until it is released. (No releases at
        # all: `release` is empty and `start` all 0, and this reads no array.)
        if len(release):
            g = base + s0
            while g < base + horizon and release[g] != np.inf:
                start[g] = release[g]
                g += 1
            if g < base + horizon:
                horizon, wait_on = g - base, -1
        if horizon == s0:  # woken, but blocked again at once: sleep on the new blocker
            if wait_on >= 0:
                need[u] = wait_for
                next_waiter[u] = first_waiter[wait_on]
                first_waiter[wait_on] = u
                asleep[u] = True
            continue
        # fold every token and credit of steps s0 .. horizon-1 into their starts
        for i in range(in_off[u], in_off[u + 1]):
            c = in_ch[i]
            folded[c] = _fold_inputs(c, take_cur[c], horizon, start, base,
                                     step_off[ch_prod[c]], ch_len, emit, emit_at, take,
                                     take_at, latency, lat_at, ch_lat)  # fmt: skip
        for i in range(out_off[u], out_off[u + 1]):
            c = out_ch[i]
            folded[c] = _fold_credits(c, emit_cur[c], horizon, start, start, base,
                                      step_off[ch_cons[c]], ch_depth[c], ch_len, emit,
                                      emit_at, take, take_at, offset, off_at,
                                      ch_off)  # fmt: skip
        lags = lag_off[u + 1] > lag_off[u]
        if lags:
            last = min(lag_horizon, horizon)
            for g in range(base + lag_seen[u], base + last):
                lag_bound[g] = -np.inf
            for i in range(lag_off[u], lag_off[u + 1]):
                c = lag_ch[i]
                folded[c] = _fold_credits(c, lag_cur[c], last, lag_bound, start, base,
                                          step_off[ch_cons[c]], ch_depth[c], ch_len, emit,
                                          emit_at, take, take_at, offset, off_at,
                                          ch_off)  # fmt: skip
        # the unit's own pace, in step order
        # (the lagged state in locals: numba cannot tell that `lag` is not `start`)
        s, lag_u, seen = s0, lag[u], lag_seen[u]
        c_at, c_u = cost_at[u], unit_cost[u]
        back_to_back = start[base + s - 1] + _value(cost, c_at, c_u, s - 1) if s > 0 else -np.inf
        while s < horizon:
            g = base + s
            t = max(start[g], back_to_back)
            if lags:
                if s > 0 and seen < s:
                    lag_u = max(lag_u, lag_bound[g - 1])
                    seen = s
                # a unit running back to back ignores the step's own lagged credits
                if not (t == back_to_back and lag_u <= t):
                    if s == lag_horizon:
                        wait_on, wait_for = lag_on, lag_for
                        break
                    lag_u = max(lag_u, lag_bound[g])
                    seen = s + 1
                    t = max(t, lag_u)
            start[g] = t
            back_to_back = t + _value(cost, c_at, c_u, s)
            s += 1
        fired[u], lag[u], lag_seen[u] = s, lag_u, seen
        for i in range(in_off[u], in_off[u + 1]):
            c = in_ch[i]
            take_cur[c] = _back(folded[c], take_cur[c], take, take_at[c], s)
        for i in range(out_off[u], out_off[u + 1]):
            c = out_ch[i]
            emit_cur[c] = _back(folded[c], emit_cur[c], emit, emit_at[c], s)
        for i in range(lag_off[u], lag_off[u + 1]):
            c = lag_ch[i]
            lag_cur[c] = _back(folded[c], lag_cur[c], emit, emit_at[c], lag_seen[u])
        if s < n_steps and wait_on >= 0:
            need[u] = wait_for
            next_waiter[u] = first_waiter[wait_on]
            first_waiter[wait_on] = u
            asleep[u] = True
        if s == s0:
            continue
        v, last_v = first_waiter[u], -1
        while v >= 0:  # wake the waiters whose wait is over
            after = next_waiter[v]
            if s > need[v]:
                if last_v < 0:
                    first_waiter[u] = after
                else:
                    next_waiter[last_v] = after
                asleep[v] = False
                size = _wake(v, queue, queued, head, size, n_units)
            else:
                last_v = v
            v = after


# Plain below 200K steps + tokens (~0.4 s at most; loading numba and the compiled loop costs
# a process ~1 s, and most SAM tasks' networks are 20K-100K), compiled from there or once
# compiled; the helpers are compiled from these same functions: both loops are one source.
# The loop creates no array (the solver passes its work arrays), so it runs without
# reference counts (`jit.compile_kernel`).
RUN_EVENTS = jit.Kernel(
    run_events, (_step, _value, _inputs_block, _credit_block, _credit_horizon, _fold_inputs,
                 _fold_credits, _back, _wake), compile_from=200_000, allocates=False,
)  # fmt: skip
