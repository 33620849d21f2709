"""Keep glibc from handing the simulator's array memory back to the kernel after every run.

A simulation allocates whole streams (a few hundred kB to tens of MB each) and frees them
when it returns. With glibc's defaults, blocks above the mmap threshold are mapped and
unmapped per allocation and the heap top is trimmed once more than ~128 kB is free, so the
next run takes a page fault on every 4 kB it touches again. On the SAM speed benchmark
(benchmarks/perf/sam_sim_speed.py) those faults cost about as much CPU time as the
simulation itself. Raising the two thresholds keeps freed blocks for reuse; the cost is
that the process keeps up to TRIM_THRESHOLD bytes of free heap instead of returning it.

Only glibc on Linux is tuned, once per process, and only if the user did not set the
thresholds through glibc's own environment variables.
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 256 * 1024 * 1024

_state: dict[str, bool] = {}


def keep_freed_memory() -> bool:
    """Apply the tuning once; True if it is in effect (it stays for the process)."""
    if "tuned" not in _state:
        _state["tuned"] = _tune()
    return _state["tuned"]


def _tune() -> bool:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
