"""The DAE critical path: which resource the last cycle waited on, walked back through the
coupled timeline, and the one sentence of advice that can help that resource.

The walk starts where the run ends (the core's last finish, the access side's last push,
or the DRAM traffic when bandwidth alone is longer) and goes back through what each event
waited for: a core token waits for the previous token (the core is the path) or for the
last entry it pops (the path moves to the access side); an access push waits for its own
work since the previous push (the path stays there, charged to whichever of traversal
steps, memory requests, DRAM bandwidth or the queue port was largest) or for room in a
full queue (the path moves to the token whose pop made room: a queue stall). Stretches
where one side is the path are handled in bulk (array sums over the stretch; stretches
never overlap), so the walk costs one Python step per switch of sides, not per push.

Busy shares (the old advice) name the side that works most, which need not be the side
the end waits for: an access side busy 90% behind a core that starts late still leaves
the core on the path. Naming what the path waits on is what makes the advice's change
lower the cycles (`benchmarks/perf/advice_hit_rate.py dae`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce

import numpy as np

from interpreter.dae.queue_kernel import TIGHT

WORK = ("traversal steps", "memory", "DRAM bandwidth", "queue pushes")
"""The access resources that work in parallel: a push's work is the largest of them."""
ACCESS_PARTS = ("traversal steps", "memory requests", "cache-miss latency", "DRAM bandwidth")
ACCESS_PARTS += ("queue pushes",)
CORE_PARTS = ("callback dispatch and pops", "callback compute", "callback loads")
FILL = "first-load latency"
QUEUES = ("control queue", "data queue")
_EPS = 1e-9


@dataclass
class Inputs:
    """What the walk reads: per-push access work split by resource (each array covers the
    n pushes plus the tail after the last), per-token core cost split likewise, and the
    solved times with the queue structure."""

    access: dict[str, np.ndarray]  # keyed by WORK
    miss_share: np.ndarray  # per push: share of "memory" held by latency-bound requests
    core: dict[str, np.ndarray]
    push: np.ndarray
    start: np.ndarray
    finish: np.ndarray
    owner: np.ndarray
    is_token: np.ndarray
    depths: tuple[int, int]
    fill: float
    dram_cycles: float
    work: np.ndarray | None = None  # per push the largest of `access`, if the caller has it


@dataclass
class CriticalPath:
    """Cycles of the path per resource, the pushes and tokens on it, and queue stalls
    (how often the path went from a push to the core through a full queue)."""

    cycles: float
    share: dict[str, float] = field(default_factory=dict)
    on_access: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    on_core: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    stalls: dict[str, int] = field(default_factory=dict)

    def top(self) -> tuple[str, float]:
        """The resource holding most of the path and its cycles."""
        return max(self.share.items(), key=lambda kv: kv[1], default=("nothing", 0.0))


def walk(x: Inputs) -> CriticalPath:
    """The critical path of one solved run (see the module docstring)."""
    n, k = len(x.push), len(x.start)
    a = x.work
    if a is None:
        a = reduce(np.maximum, (x.access[p] for p in WORK))  # (pairwise: no stacked copy)
    access_end = (x.push[-1] if n else x.fill) + a[n]
    core_end = x.finish[-1] if k else 0.0
    end = max(access_end, core_end, x.dram_cycles)
    path = CriticalPath(end, {}, np.zeros(n + 1, bool), np.zeros(k, bool), {})
    if x.dram_cycles >= end and x.dram_cycles > max(access_end, core_end):
        path.share["DRAM bandwidth"] = x.dram_cycles
        return path
    # A push is tight when its own work set it (not a full queue); a token when the
    # previous token's finish set its start (not an entry it pops).
    queue_pos: list[np.ndarray] = []  # each queue's pushes in order, found when first needed
    tight = TIGHT.pick(n)
    if tight is TIGHT.plain:
        tight = _tight_pushes
    tight_a, brk_a, last_entry = tight(x.push, a, float(x.fill), x.owner, k, _EPS)
    tight_c = np.zeros(k, bool)
    if k:
        tight_c[1:] = x.start[1:] <= x.finish[:-1] + _EPS
    brk_c = _last_false(tight_c)

    def add(name: str, cycles: float) -> None:
        if cycles > 0:
            path.share[name] = path.share.get(name, 0.0) + float(cycles)

    def span_access(lo: int, hi: int) -> None:
        """Charge pushes lo..hi (n: the tail) to their resources; memory is split by how
        much of it latency-bound requests held. A push's work is charged to the first
        resource of WORK that set it (its largest)."""
        work = a[lo : hi + 1]
        by = np.zeros(len(work), dtype=np.int8)
        for i in range(len(WORK) - 1, -1, -1):  # the lowest index among equals wins
            by[x.access[WORK[i]][lo : hi + 1] == work] = i
        for i, p in enumerate(WORK):
            if p != "memory":
                add(p, work[by == i].sum())
        memory = by == WORK.index("memory")
        share = x.miss_share[lo : hi + 1][memory]
        add("memory requests", (work[memory] * (1.0 - share)).sum())
        add("cache-miss latency", (work[memory] * share).sum())

    def enter_core(t: int) -> tuple[str, int]:
        """Where the path goes from token t's start: the token before or an entry."""
        if t > 0 and tight_c[t]:
            return "core", t - 1
        e = int(last_entry[t])
        return ("access", e) if e >= 0 else ("core", -1)

    if core_end >= access_end and k:
        side, i = "core", k - 1
    else:
        span_access(n, n)
        path.on_access[n] = True
        side, i = "access", n - 1
    hops = 2 * (n + k) + 2  # every hop moves back by a push or a token; ties cannot loop
    while i >= 0 and hops:
        hops -= 1
        if side == "core":
            lo = max(int(brk_c[i]), 0)  # tokens lo..i run back to back
            for p in CORE_PARTS:
                add(p, x.core[p][lo : i + 1].sum())
            path.on_core[lo : i + 1] = True
            side, i = enter_core(lo)
            continue
        lo = max(int(brk_a[i]), 0)  # pushes lo+1..i each set by their own work
        own = lo if tight_a[lo] else lo + 1  # lo itself waited for room
        if own <= i:
            span_access(own, i)
            path.on_access[own : i + 1] = True
        if tight_a[lo]:
            add(FILL, x.fill)
            break
        full, token = _room(x, queue_pos, lo)
        if token < 0:
            break
        queue = QUEUES[full]
        path.stalls[queue] = path.stalls.get(queue, 0) + 1
        side, i = enter_core(token)
    return path


def _tight_pushes(
    push: np.ndarray, work: np.ndarray, fill: float, owner: np.ndarray, tokens: int, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whether each push was set by its own work (not a full queue), the last push at or
    before each that was not (`_last_false`), and each of the `tokens` tokens' last entry
    (-1: none); `queue_kernel.TIGHT` is the same in one loop."""
    n = len(push)
    tight = np.ones(n, bool)
    if n:
        prev = np.concatenate([[fill], push[:-1]])
        tight = push <= prev + work[:n] + eps
    last_entry = np.full(tokens, -1)
    if tokens and n:
        np.maximum.at(last_entry, owner, np.arange(n))
    return tight, _last_false(tight), last_entry


def _room(x: Inputs, queue_pos: list[np.ndarray], e: int) -> tuple[int, int]:
    """For push `e`: the queue that was full when it waited (an index into `QUEUES`) and the
    token whose pop made room, or (-1, -1). Looked up per push the walk reaches (a few)
    rather than for all of them; `queue_pos` holds the pushes of each queue, in order
    (filled here on the first lookup)."""
    if not queue_pos:
        queue_pos += [np.flatnonzero(x.is_token), np.flatnonzero(~x.is_token)]
    q = 0 if x.is_token[e] else 1
    pos, depth = queue_pos[q], x.depths[q]
    place = int(np.searchsorted(pos, e))  # e is its queue's entry number `place`
    if depth < 1 or place < depth:
        return -1, -1
    waits = int(x.owner[pos[place - depth]])
    if x.start[waits] + _EPS >= x.push[e]:
        return q, waits
    return -1, -1


def _last_false(tight: np.ndarray) -> np.ndarray:
    """Per index: the last index <= it that is not tight (0 when all before are)."""
    idx = np.where(~tight, np.arange(len(tight)), 0)
    return np.maximum.accumulate(idx) if len(idx) else idx
