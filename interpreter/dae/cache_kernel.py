"""The LRU hierarchy's loop of `cache_model.replay`, compiled by numba (`LRU`).

Why two forms: in plain Python an `OrderedDict` per cache is the fastest LRU (its
`move_to_end` and `popitem` are C), but numba has no ordered dict; compiled, a doubly
linked list over dense line ids is a few array writes a request. `replay` runs this kernel
once it is compiled (in a warm eval server, or once the process has paid for numba), and
the `OrderedDict` loop otherwise; the tests hold the two to identical levels.

A line's id is its rank among the distinct lines replayed (`np.unique`), so each cache is
three arrays of the ids' length: the neighbours towards the least and the most recently
used end (`NONE` at an end), and whether the line is held.
"""

from __future__ import annotations

import numpy as np

from interpreter.core.jit import Kernel

NONE = -1
DRAM = 4  # level of a request served by DRAM (L1 = 1, L2 = 2, LLC = 3)


def lru_levels(ids, nontemporal, capacities, count):
    """The level (1..4) that serves each request of line id `ids[k]` (ids < `count`) in an
    L1/L2/LLC of `capacities` lines, LRU each: a hit refreshes its own level only; a miss
    fills every level above the one that served it, except that a `nontemporal` request
    fills L1 alone. Consecutive requests must be to different lines (see `replay`)."""
    older = np.full((3, count), NONE, dtype=np.int64)  # towards the least recently used
    newer = np.full((3, count), NONE, dtype=np.int64)
    held = np.zeros((3, count), dtype=np.bool_)
    oldest = np.full(3, NONE, dtype=np.int64)
    newest = np.full(3, NONE, dtype=np.int64)
    size = np.zeros(3, dtype=np.int64)
    levels = np.empty(len(ids), dtype=np.int64)
    for k in range(len(ids)):
        line = ids[k]
        level = DRAM
        for depth in range(3):
            if held[depth, line]:
                level = depth + 1
                _unlink(older, newer, oldest, newest, depth, line)
                _append(older, newer, oldest, newest, depth, line)
                break
        levels[k] = level
        for depth in range(level - 2, -1, -1):  # the levels above the hit
            if nontemporal[k] and depth > 0:
                continue  # non-temporal fills skip L2 and the LLC
            held[depth, line] = True
            _append(older, newer, oldest, newest, depth, line)
            size[depth] += 1
            if size[depth] > capacities[depth]:
                evicted = oldest[depth]
                _unlink(older, newer, oldest, newest, depth, evicted)
                held[depth, evicted] = False
                size[depth] -= 1
    return levels


def _unlink(older, newer, oldest, newest, depth, line):
    before, after = older[depth, line], newer[depth, line]
    if before == NONE:
        oldest[depth] = after
    else:
        newer[depth, before] = after
    if after == NONE:
        newest[depth] = before
    else:
        older[depth, after] = before


def _append(older, newer, oldest, newest, depth, line):
    last = newest[depth]
    older[depth, line], newer[depth, line] = last, NONE
    if last == NONE:
        oldest[depth] = line
    else:
        newer[depth, last] = line
    newest[depth] = line


# The `OrderedDict` loop costs ~2 us a request, the compiled one ~0.3 us; loading the
# cached kernel costs ~0.08 s once numba is loaded, ~0.8 s when not.
LRU = Kernel(lru_levels, (_unlink, _append), compile_from=400_000, once_loaded_from=40_000)


def warm_up() -> None:
    """Compile (or load) the kernel, calling it once (see `interpreter.core.jit.warm_up`)."""
    ids = np.array([0, 1, 0], dtype=np.int64)
    LRU.compiled()(ids, np.zeros(3, dtype=np.bool_), np.array([1, 1, 1]), 2)
