"""Memory requests of the access side and the cache hierarchy that serves them.

Requests are made per load-stream element: a scalar load is one request, a vector gather
one request per valid lane, a contiguous vector load one request per cache line it
touches. They are replayed in traversal order through an inclusive LRU hierarchy
(L1, L2, LLC, then DRAM). A non-temporal request that misses fills only L1, so streams read
once do not push reusable rows out of L2 and the LLC.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from interpreter.dae.access import AccessRun

DRAM = 4
"""Level number of a request served by DRAM (L1 = 1, L2 = 2, LLC = 3)."""


@dataclass
class Requests:
    """One row per memory request, in traversal order."""

    entry: np.ndarray  # push index the request's work is charged to (N = after the last push)
    stream: np.ndarray  # load stream id
    line: np.ndarray  # global cache-line number
    nontemporal: np.ndarray  # bool
    level: np.ndarray  # 1..4, filled by `replay`


def _bases(run: AccessRun) -> dict[str, int]:
    """Each memref in its own, page-aligned region of the address space."""
    bases, cursor = {}, 0
    for m in run.program.memrefs:
        bases[m.name] = cursor
        size = run.memrefs[m.name].nbytes
        cursor += -(-max(size, 1) // 4096) * 4096
    return bases


def requests(run: AccessRun, line_bytes: int) -> Requests:
    """Every memory request the access side makes, ordered as traversal issues them."""
    p = run.program
    bases = _bases(run)
    depth = {}
    for t in p.tus:
        depth[t.id] = 0 if t.parent is None else depth[t.parent] + 1
    parts = []
    for s in p.streams:
        if s.op != "load":
            continue
        mem = run.memrefs[s.memref]
        flat = run.flat[s.id]
        lines = (bases[s.memref] + flat * mem.itemsize) // line_bytes
        pos = run.start_iter[s.tu]
        if flat.ndim == 1:
            it, ln = np.arange(len(flat)), lines
        else:
            mask = run.tus[s.tu].mask
            if s.contiguous:  # one request per distinct line in the chunk
                first = np.where(mask, lines, np.iinfo(np.int64).max).min(axis=1)
                last = np.where(mask, lines, -1).max(axis=1)
                valid = mask.any(axis=1)
                it = np.concatenate([np.flatnonzero(valid), np.flatnonzero(valid & (last > first))])
                ln = np.concatenate([first[valid], last[valid & (last > first)]])
                order = np.lexsort((ln, it))
                it, ln = it[order], ln[order]
            else:
                it, lane = np.nonzero(mask)
                ln = lines[it, lane]
        parts.append(
            (
                pos[it],
                np.full(len(it), depth[s.tu]),
                np.full(len(it), s.id),
                ln,
                np.full(len(it), s.nontemporal),
            )
        )
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Requests(empty, empty, empty, empty.astype(bool), empty)
    pos, dep, sid, line, nt = (np.concatenate(x) for x in zip(*parts, strict=True))
    order = np.lexsort((sid, dep, pos))  # stable: lanes keep their order
    return Requests(
        pos[order],
        sid[order],
        line[order],
        nt[order].astype(bool),
        np.zeros(len(order), dtype=np.int64),
    )


def replay(req: Requests, capacities: tuple[int, int, int]) -> None:
    """Fill `req.level` by running the line sequence through an LRU L1/L2/LLC."""
    if len(req.line) == 0:
        return
    # A request to the line its predecessor just touched hits L1 (same chunk or row).
    new = np.concatenate([[True], req.line[1:] != req.line[:-1]])
    idx = np.flatnonzero(new)
    levels = np.ones(len(idx), dtype=np.int64)
    caches: list[OrderedDict] = [OrderedDict(), OrderedDict(), OrderedDict()]
    lines = req.line[idx].tolist()
    nts = req.nontemporal[idx].tolist()
    for k, (line, nt) in enumerate(zip(lines, nts, strict=True)):
        level = DRAM
        for depth, cache in enumerate(caches):
            if line in cache:
                cache.move_to_end(line)
                level = depth + 1
                break
        levels[k] = level
        for depth in range(min(level, DRAM) - 2, -1, -1):  # the levels above the hit
            if nt and depth > 0:
                continue  # non-temporal fills skip L2 and the LLC
            cache = caches[depth]
            cache[line] = True
            if len(cache) > capacities[depth]:
                cache.popitem(last=False)
    req.level[:] = 1
    req.level[idx] = levels
