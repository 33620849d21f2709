"""Small programs with a dispatch feedback loop, shared by the dispatch tests.

Request k asks for `work[k]` units: its region reads row k of x work[k] times and adds the
copies up, so y[k] = work[k] * x[k] and the region is busy in proportion to work[k] (one
[1, C] row per unit, C / 16 cycles of the adder each at 64 B/cycle).
"""

from __future__ import annotations

import numpy as np

from dsl import step
from tests.dsl.step.helpers import signature

N, C = 8, 256


def region(x, work, index, signal_from="result"):
    """One region: y[k] = work[k] * x[k], stored at row k. Returns (store, free signal);
    the signal is a copy of each request's result (`signal_from="result"`), or of its
    request index as it arrives (`"arrival"`: the region asks for more before working)."""
    idx_a, idx_b, idx_c = step.copy(index, 3)
    if signal_from == "arrival":
        idx_a, free = step.copy(idx_a)
    start = step.map(idx_a, step.fn.affine_index(scale=1))
    rows = step.flat_map(step.map([start, work], "concat_cols"), step.fn.range(stride=0))
    total = step.accum(step.random_offchip_load(x, rows, (1, C)), "add", rank=1)
    if signal_from == "result":
        total, free = step.copy(total)
    step.sink(idx_c)
    return step.random_offchip_store(total, idx_b, "y"), free


def requests(work, n: int):
    """Every request's work and index, as two [n] streams."""
    w, count = step.copy(step.linear_offchip_load(work, (1, 1), shape=(n,)))
    ones = step.map(count, step.fn.affine_index(scale=0, offset=1))
    return w, step.map(step.scan(ones, "add", rank=1), step.fn.affine_index(offset=-1))


def dynamic(x, work, regions=2, signal_from="result"):
    w, index = requests(work, x.shape[0].value)
    parts = step.dispatch([w, index], regions)
    stores, signals = [], []
    for w_r, i_r in parts:
        store, free = region(x, w_r, i_r, signal_from)
        stores.append(store)
        signals.append(free)
    step.free_signal(signals, of=parts)
    return stores


def round_robin(x, work, regions=2):
    """The same regions fed round-robin from one stream (static interleaved)."""
    w, index = requests(work, x.shape[0].value)
    w, turn = step.copy(w)
    equal = step.map(turn, step.fn.affine_index(scale=0, offset=1))
    s_w, s_i = step.copy(step.scan(equal, step.fn.least_loaded(regions=regions), rank=1))
    w_parts = step.partition(w, s_w, regions)
    i_parts = step.partition(index, s_i, regions)
    stores = []
    for w_r, i_r in zip(w_parts, i_parts, strict=True):
        store, free = region(x, w_r, step.assume_shape(i_r, w_r.shape))
        step.sink(free)
        stores.append(store)
    return stores


SIG = signature({"x": ("float32", [N, C]), "work": ("int64", [N])}, {"y": ("float32", [N, C])})


def inputs(work: list[int], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((N, C)).astype(np.float32),
        "work": np.asarray(work, np.int64),
    }
