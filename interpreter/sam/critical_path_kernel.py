"""The pointer chase of `critical_path.py`: plain Python, compiled by numba only for a
graph of `COMPILE_FROM` steps or more (`CHASE.pick`), so a task-sized program's simulation
never imports numba for it."""

from __future__ import annotations

import numpy as np

from interpreter.core.jit import Kernel


def chase(end: int, first: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """From step `end` (a global step number) back to the start: per hop the step where a
    back-to-back run ends and the step it starts at (`first`), then the step that run
    waited for (`pred`; < 0: nothing). Returns the hops as rows (run end, run start)."""
    hops = np.empty((len(first), 2), dtype=np.int64)
    n = 0
    i = end
    while i >= 0:
        if n == len(first):  # each step is on a path once: the waits would form a cycle
            raise ValueError("the steps' waits form a cycle")
        j = first[i]
        hops[n, 0] = i
        hops[n, 1] = j
        n += 1
        i = pred[j]
    return hops[:n]


# The plain loop costs about 1 us a hop and a path has at most one hop per step, so below
# this many steps it takes under ~0.2 s, less than loading the compiled chase (0.3-0.7 s of
# CPU, more when numba is not imported yet); typical paths hop on a tenth of the steps.
COMPILE_FROM = 200_000
CHASE = Kernel(chase, compile_from=COMPILE_FROM)


def warm_up() -> None:
    """Compile (or load) the chase once (see `interpreter.core.jit.warm_up`)."""
    CHASE.compiled()(1, np.zeros(2, dtype=np.int64), np.array([-1, 0], dtype=np.int64))
