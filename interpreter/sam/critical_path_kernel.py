"""The loops of `critical_path.py`: what each run-starting step waited for last, edge by
edge (`INPUT_WAITS`, `ROOM_WAITS`), and the chase back through those waits from the last
step, charging each hop's cycles as it goes (`CHARGE_PATH`). Plain Python, compiled by
numba only once the work pays for loading it (`jit.Kernel.pick`), so a task-sized
program's simulation never imports numba for them.

Steps are numbered globally (a node's step s at `base + s`). The walk keeps a row of
`waits` per run-starting step, its fields side by side (a hop of the chase reads them
together: kept as seven arrays, SpMV 2000^2's path at depth 2 charged ~6x slower). The
waits write into the rows of one node's run starts (`waits` given sliced), in the walk's
order: a wait replaces the one found so far only when later."""

from __future__ import annotations

import numpy as np

from interpreter.core.jit import Kernel

# The fields of a row of `waits`: the run start's global step number and start cycle; the
# time it waited for last, and what (`KIND`: an input's index, or `_OWN` its own previous
# step, `_RELEASE` HBM bandwidth, `_ROOM` a full FIFO), and the step that gave it (`PRED`,
# < 0: none); of an input's wait, the HBM round trip (`EXTRA`); the consumer whose take
# made room in a full FIFO (`STALL`).
STEP, START, READY, KIND, PRED, EXTRA, STALL = range(7)
FIELDS = 7
_OWN, _RELEASE, _ROOM = -1, -2, -3
CREDIT_OFFSET = 2  # cycles from a consumer's take until the producer sees the room

# What a hop's cycles are charged as: `charge_path` sums them per (part, node id), and
# `critical_path` names each part's resource (a wait's slack: full FIFO with bounded
# FIFOs, else the primitive's own steps).
RUN, SLACK, OWN_STEP, RELEASE, ROOM, LATENCY, HBM_LATENCY = range(7)
PARTS = 7


def input_waits(waits, base, take, plain_take, emit, src, latency, trip, index, start):
    """At each run start of `waits` (all of the edge's consumer, whose steps start at
    `base`; `start`: every step's start cycle), the last token it takes on edge `index`,
    if it takes one, and when it arrived: the producer's step that emitted it (`src +
    emit[token]`) started, plus `latency`, plus the step's HBM round trip (`trip`, per
    consumer step; empty: none). `plain_take`: step m takes token m (`take` is then read
    only for its length)."""
    count = 0  # tokens taken by the steps up to the last one asked about
    for n in range(len(waits)):
        s = waits[n, STEP] - base
        if plain_take:
            if s >= len(take):
                continue
            last = s
        else:
            count = _count_upto(take, s, count)
            last = count - 1
            if last < 0 or take[last] != s:
                continue
        step = src + emit[last]
        wait = trip[s] if len(trip) else 0
        arrival = start[step] + latency + wait
        if arrival > waits[n, READY]:
            _wait(waits, n, arrival, index, step, wait)


def room_waits(waits, base, n_emit, plain_emit, credit, take, depth, src, consumer, start):
    """Room in a bounded FIFO at each run start of `waits` (all of the edge's producer,
    whose steps start at `base`; the consumer's at `src`). A step that ran back to back
    started ahead of its own credit (SAM's lagged rule: it was working, not waiting), and
    that credit binds its next step instead; a step that did not waited for its own (the
    solver's rule), so no credit is later than its start. The two are checked in that
    order."""
    count = 0  # credits binding the steps up to the last one asked about
    for n in range(len(waits)):
        g = waits[n, STEP]
        s = g - base
        behind = -1  # the take giving the room of step s - 1 (asked first: asks ascend)
        if s >= 1:
            behind, count = _credit_take(s - 1, count, n_emit, plain_emit, credit, take, depth)
        own, count = _credit_take(s, count, n_emit, plain_emit, credit, take, depth)
        for back in range(2):
            took = behind if back else own
            if took < 0:
                continue
            room = start[src + took] + CREDIT_OFFSET
            ahead = room > start[g - back]  # the credit's own step started before it
            if ahead == (back == 1) and room > waits[n, READY]:
                _wait(waits, n, room, _ROOM, src + took, 0)
                waits[n, STALL] = consumer


def _wait(waits, n, ready, kind, pred, extra):
    """Run start n waited last until `ready` for `kind`, which step `pred` gave."""
    waits[n, READY], waits[n, KIND], waits[n, PRED], waits[n, EXTRA] = ready, kind, pred, extra


def _credit_take(s, count, n_emit, plain_emit, credit, take, depth):
    """The consumer step whose take gives the room step s of the producer waits for (-1:
    no credit binds step s), and how many credits bind steps up to s (`count`: how many
    bind steps up to an earlier one). The step emitting credit m waits for the take of
    token m - depth - 1. `plain_emit`: step m emits token m (so credit m binds step m, and
    `credit` is not read); else `credit` holds the step each credit binds (ascending)."""
    if plain_emit:
        m = s - (depth + 1)
        return (take[m] if m >= 0 and s < n_emit else -1), count
    count = _count_upto(credit, s, count)
    if count <= depth + 1 or credit[count - 1] != s:
        return -1, count
    return take[count - 1 - (depth + 1)], count


def _count_upto(a, x, lo):
    """How many entries of `a` (ascending) are <= x, given that the first `lo` are: a
    galloping search from `lo`, so asks in ascending x cost the log of each gap, not of
    the whole array."""
    width = 1
    while lo + width <= len(a) and a[lo + width - 1] <= x:
        lo += width
        width *= 2
    hi = min(lo + width - 1, len(a))  # a[hi] > x, or hi is the end
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _owner(ends, step):
    """The node owning a step: how many nodes' steps end at or before it (a graph has a
    dozen or so nodes: all are compared, without a branch)."""
    o = 0
    for end in ends:
        o += end <= step
    return o


def charge_path(end, waits, start, ends, ids, ii, share, stalls, cursor):
    """From step `end` back to the start: per hop, the back-to-back run ending at step i
    from its start j (the row of `waits` at or before i in i's node), then the step that j
    waited for (< 0: nothing). Adds each hop's cycles to `share[part, node id]` and, per
    full FIFO waited for, one to `stalls[producer id, consumer id]`; returns the number of
    hops. Node o (`ids[o]`, II `ii[o]`) owns the steps before `ends[o]` and after those of
    node o - 1. A run start at cycle 0 waited for nothing.

    A node's row is found by walking `cursor[o]` (a row of node o: say its last) from where
    its last hop left it: the chase goes back in time, so it visits each node's steps in
    descending order, and the walks add up to a node's rows, not a search per hop (nor an
    array mapping each step to its row)."""
    hops = 0
    i = end
    while i >= 0:
        if hops == len(waits):  # each run is on a path once: the waits would form a cycle
            raise ValueError("the steps' waits form a cycle")
        hops += 1
        o = _owner(ends, i)
        r = cursor[o]
        while r + 1 < len(waits) and waits[r + 1, STEP] <= i:  # (only if steps cost 0)
            r += 1
        while waits[r, STEP] > i:
            r -= 1
        cursor[o] = r
        j = waits[r, STEP]
        v = ids[o]
        share[RUN, v] += (i - j) * ii[o]
        i = waits[r, PRED]
        if waits[r, START] <= 0:
            continue
        k, ready, extra = waits[r, KIND], waits[r, READY], waits[r, EXTRA]
        share[SLACK, v] += waits[r, START] - (ready if ready > 0 else 0)
        if k == _OWN:
            share[OWN_STEP, v] += ii[o]
        elif k == _RELEASE:
            share[RELEASE, v] += ready
        elif k == _ROOM:
            share[ROOM, v] += CREDIT_OFFSET
            stalls[v, waits[r, STALL]] += 1
        else:  # a token from step i
            share[LATENCY, ids[_owner(ends, i)]] += ready - extra - start[i]
            share[HBM_LATENCY, v] += extra
    return hops


# Plain, a visit of `input_waits` costs ~2 us, of `room_waits` ~8 us, and `charge_path`
# ~13 us a run start (SpMV 2000^2, depth 2); loading a kernel's cached code costs ~0.015 s
# once numba is loaded (a graph large enough for the solver to compile loads it), ~1 s
# when not: each compiles once its plain work in a process would have paid for that.
INPUT_WAITS = Kernel(input_waits, (_count_upto, _wait), compile_from=400_000,
                     allocates=False, once_loaded_from=8_000)  # fmt: skip
ROOM_WAITS = Kernel(room_waits, (_credit_take, _count_upto, _wait), compile_from=100_000,
                    allocates=False, once_loaded_from=2_000)  # fmt: skip
CHARGE_PATH = Kernel(charge_path, (_owner,), compile_from=60_000, allocates=False,
                     once_loaded_from=1_000)  # fmt: skip


def warm_up() -> None:
    """Compile (or load) the kernels, calling each once (see `interpreter.core.jit.warm_up`)
    on every kind of array the simulator passes: numba compiles a kernel per argument type,
    and a read-only array is a type of its own (an edge's emits or takes that are the plan's
    None are views of one read-only `arange`, `interpreter.sam.cycles._edges`). A kind left
    out here would be loaded from numba's cache on its first call in every process, ~0.01 s
    each, again in each child of a warm `agent eval` (`agents.eval_server`)."""
    ints, none = np.zeros(2, dtype=np.int64), np.zeros(0, dtype=np.int64)
    fixed = ints.copy()
    fixed.flags.writeable = False
    waits = np.zeros((2, FIELDS), dtype=np.int64)
    for plain in (True, False):
        for take in (ints, fixed):
            for emit in (ints, fixed):
                INPUT_WAITS.compiled()(waits, 0, take, plain, emit, 0, 1, none, 0, ints)
            ROOM_WAITS.compiled()(waits, 0, 2, plain, ints, take, 0, 0, 0, ints)
    share, stalls = np.zeros((PARTS, 1)), np.zeros((1, 1), dtype=np.int64)
    waits[:, PRED] = -1
    CHARGE_PATH.compiled()(1, waits, ints, np.array([2]), ints[:1], ints[:1] + 1, share, stalls,
                           ints[:1])  # fmt: skip
