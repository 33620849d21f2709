"""The cache model: memory requests of both sides and the hierarchy that serves them.

Access side: requests are made per load-stream element: a scalar load is one request, a
vector gather one request per valid lane, a contiguous vector load one request per cache
line it touches. Execute side: a callback's `load` makes one request per distinct line
each 8-lane chunk of it touches (a scalar load one). Both go through one inclusive LRU
hierarchy (L1, L2, LLC, then DRAM), in one order: the access side's in traversal order, and
a callback's right after the push of the token that runs it. A non-temporal request that
misses fills only L1, so streams read once do not push reusable rows out of L2 and the LLC.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from dsl.core.spec import COST
from dsl.dae.ir import LANES
from dsl.dae.ops import ACCESS, DAE
from interpreter.dae import costs  # noqa: F401  (registers the request rules)
from interpreter.dae.access import AccessRun
from interpreter.dae.cache_kernel import DRAM, LRU
from interpreter.dae.execute import CoreLoad


@dataclass
class Requests:
    """One row per memory request, in the order the hierarchy sees them."""

    entry: np.ndarray  # push index the request's work is charged to (N = after the last push)
    stream: np.ndarray  # load stream id (-1: an execute-side load)
    line: np.ndarray  # global cache-line number
    nontemporal: np.ndarray  # bool
    level: np.ndarray  # 1..4, filled by `replay`
    load: np.ndarray  # execute side: index of its `CoreLoad` (-1: the access side's)
    token: np.ndarray  # execute side: the token whose callback made it (-1: access side)

    @property
    def access(self) -> np.ndarray:
        """Mask of the access side's requests."""
        return self.load < 0


def _bases(run: AccessRun) -> dict[str, int]:
    """Each memref in its own, page-aligned region of the address space."""
    bases, cursor = {}, 0
    for m in run.program.memrefs:
        bases[m.name] = cursor
        size = run.memrefs[m.name].nbytes
        cursor += -(-max(size, 1) // 4096) * 4096
    return bases


def requests(run: AccessRun, line_bytes: int) -> Requests:
    """Every memory request the access side makes, ordered as traversal issues them: each
    stream's requests come from its op's cost rule (`costs`)."""
    p = run.program
    bases = _bases(run)

    def line_of(memref: str, flat: np.ndarray) -> np.ndarray:
        return (bases[memref] + flat * run.memrefs[memref].itemsize) // line_bytes

    depth = {}
    for t in p.tus:
        depth[t.id] = 0 if t.parent is None else depth[t.parent] + 1
    rules = DAE.rules(COST)
    parts = []
    for s in p.streams:
        made = rules[f"{ACCESS}.{s.op}"](run, s, line_of)
        if made is None:
            continue
        it, ln = made
        parts.append(
            (
                run.start_iter[s.tu][it],
                np.full(len(it), depth[s.tu]),
                np.full(len(it), s.id),
                ln,
                np.full(len(it), s.nontemporal),
            )
        )
    if not parts:
        return _requests(*(np.zeros(0, dtype=np.int64) for _ in range(4)))
    pos, dep, sid, line, nt = (np.concatenate(x) for x in zip(*parts, strict=True))
    # by push, then depth, then stream; stable: lanes keep their order. One key sorts faster
    # than three (each stream's keys are already in order), where it cannot overflow
    deep, many = max(depth.values()) + 1, len(p.streams)
    if (int(pos.max(initial=0)) + 1) * deep * many < 1 << 62:
        order = np.argsort((pos * deep + dep) * many + sid, kind="stable")
    else:
        order = np.lexsort((sid, dep, pos))
    return _requests(pos[order], sid[order], line[order], nt[order])


def _requests(entry, stream, line, nontemporal, load=None, token=None) -> Requests:
    minus = np.full(len(entry), -1, dtype=np.int64)
    return Requests(
        entry.astype(np.int64, copy=False),
        stream.astype(np.int64, copy=False),
        line.astype(np.int64, copy=False),
        nontemporal.astype(bool, copy=False),
        np.zeros(len(entry), dtype=np.int64),
        minus if load is None else load,
        minus if token is None else token,
    )


def with_core_loads(
    run: AccessRun, req: Requests, loads: list[CoreLoad], token_pos: np.ndarray, line_bytes: int
) -> Requests:
    """`req` (the access side's) merged with the requests of execute-side loads, each placed
    right after the push of the token whose callback makes it."""
    if not loads:
        return req
    bases = _bases(run)
    parts = []
    for k, ld in enumerate(loads):
        mem = run.memrefs[ld.memref]
        lines = (bases[ld.memref] + ld.flat * mem.itemsize) // line_bytes
        if lines.size == 0:
            continue
        if lines.ndim == 1:
            tok, ln = ld.which, lines
        else:  # one request per distinct line in each 8-lane chunk
            ntok, width = lines.shape
            pad = -width % LANES
            valid = True if ld.mask is None else np.broadcast_to(ld.mask, lines.shape)
            big = np.iinfo(np.int64).max
            chunks = np.pad(np.where(valid, lines, big), ((0, 0), (0, pad)), constant_values=big)
            chunks = np.sort(chunks.reshape(ntok, -1, LANES), axis=2)
            first = np.concatenate(
                [np.ones(chunks.shape[:2] + (1,), bool), chunks[:, :, 1:] != chunks[:, :, :-1]],
                axis=2,
            )
            keep = first & (chunks != big)
            t, _, _ = np.nonzero(keep)
            tok, ln = ld.which[t], chunks[keep]
        parts.append((tok, ln, np.full(len(tok), k)))
    if not parts:
        return req
    tok, line, load = (np.concatenate(x) for x in zip(*parts, strict=True))
    core = _requests(
        token_pos[tok], np.full(len(tok), -1), line, np.zeros(len(tok), bool), load, tok
    )
    # The access side's requests for push e happen before it; a callback's after its token.
    order = np.argsort(np.concatenate([2 * req.entry, 2 * core.entry + 1]), kind="stable")
    return Requests(*(np.concatenate([a, b])[order] for a, b in _columns(req, core)))


def _columns(a: Requests, b: Requests) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (a.entry, b.entry),
        (a.stream, b.stream),
        (a.line, b.line),
        (a.nontemporal, b.nontemporal),
        (a.level, b.level),
        (a.load, b.load),
        (a.token, b.token),
    ]


def replay(req: Requests, capacities: tuple[int, int, int]) -> None:
    """Fill `req.level` by running the line sequence through an LRU L1/L2/LLC: compiled
    when `cache_kernel.LRU` says so, else the `OrderedDict` loop (the two agree exactly)."""
    if len(req.line) == 0:
        return
    # A request to the line its predecessor just touched hits L1 (same chunk or row).
    new = np.concatenate([[True], req.line[1:] != req.line[:-1]])
    idx = np.flatnonzero(new)
    run = LRU.pick(len(idx))
    if run is LRU.plain:
        levels = _lru_levels(req.line[idx].tolist(), req.nontemporal[idx].tolist(), capacities)
    else:
        lines, ids = np.unique(req.line[idx], return_inverse=True)
        levels = run(ids, req.nontemporal[idx], np.array(capacities, dtype=np.int64), len(lines))
    req.level[:] = 1
    req.level[idx] = levels


def _lru_levels(
    lines: list[int], nontemporal: list[bool], capacities: tuple[int, int, int]
) -> np.ndarray:
    """`cache_kernel.lru_levels` in plain Python, on `OrderedDict`s (see that module)."""
    levels = np.ones(len(lines), dtype=np.int64)
    l1, l2, llc = caches = (OrderedDict(), OrderedDict(), OrderedDict())
    for k, line in enumerate(lines):
        if line in l1:  # most requests: an L1 hit only refreshes L1
            l1.move_to_end(line)
            continue
        if line in l2:
            l2.move_to_end(line)
            level = 2
        elif line in llc:
            llc.move_to_end(line)
            level = 3
        else:
            level = DRAM
        levels[k] = level
        for depth in range(level - 2, -1, -1):  # the levels above the hit
            if nontemporal[k] and depth > 0:
                continue  # non-temporal fills skip L2 and the LLC
            cache = caches[depth]
            cache[line] = True
            if len(cache) > capacities[depth]:
                cache.popitem(last=False)
    return levels
