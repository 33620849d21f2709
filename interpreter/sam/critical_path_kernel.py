"""The compiled pointer chase of `critical_path.py` (numba, cached on disk like the
solver's kernel; imported on the first walk only, as `interpreter.core.channels_kernel`)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def chase(end: int, first: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """From step `end` (a global step number) back to the start: per hop the step where a
    back-to-back run ends and the step it starts at (`first`), then the step that run
    waited for (`pred`; < 0: nothing). Returns the hops as rows (run end, run start)."""
    hops = np.empty((len(first), 2), dtype=np.int64)
    n = 0
    i = end
    while i >= 0:
        j = first[i]
        hops[n, 0] = i
        hops[n, 1] = j
        n += 1
        i = pred[j]
    return hops[:n]
