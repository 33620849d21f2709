"""`paused_gc`: no cyclic garbage collection while STeP builds, loads or simulates a program.

Building, validating and simulating a program allocate hundreds of thousands of objects
(IR nodes, symbolic dims, stream arrays) that live until the call returns and form almost
no reference cycles. CPython's collector counts them and, every time the survivors grow by
a quarter, runs a full pass over every tracked object in the process (numba and numpy's
modules included). Measured on the Qwen b1024 MoE sweep
(`benchmarks/perf/step_sim_throughput.py --trace qwen_b1024`, four points): 910-950
collections, 7 of them full, took 0.9-1.4 s of its 10-11 s CPU and freed under 2,500
objects in all (with the pause: under 200 collections, 0.1-0.2 s, most of them while
numba loads). So these calls run with the collector off and switch it back on when they
return (or raise); reference counting still frees everything acyclic at once, and the few
cycles left are collected by the first collection after the call.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Switch the cyclic collector off for the block, and back on after it only if it was
    on before (nested pauses, or a caller that runs without it, are left as they are)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
