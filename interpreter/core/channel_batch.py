"""Many channels checked at once, for `ChannelNetwork.add_channels`: the checks
`add_channel` makes of each channel (steps in range and in order, lengths that agree,
depths, finite non-negative latencies), done with a few numpy calls over all of them.
Each function answers what `add_channel` would keep, or None when it would refuse a
channel (the caller then adds them one by one, so that the first bad one raises as alone).
"""

from __future__ import annotations

import math

import numpy as np

from interpreter.core.channels import _ZERO, _finite_nonnegative


def checked_channels(
    steps: list[int],
    producers: list[int],
    consumers: list[int],
    emits: list[np.ndarray | None],
    takes: list[np.ndarray | None],
    depths: list[int],
    latencies: list[float | np.ndarray],
) -> tuple[list, ...] | None:
    """For `add_channels`: per channel, its tokens, emit and take steps, depth and
    latency as `add_channel` keeps them, if `add_channel` accepts every channel; else
    None."""
    count = len(producers)
    steps = np.array(steps, dtype=np.int64)
    ends = np.array([producers, consumers], dtype=np.int64).reshape(2, count)
    if ((ends < 0) | (ends >= len(steps))).any():
        return None
    n = steps[ends[0]]  # with neither side given: one token per producer step
    sides = []
    for given, units in ((takes, ends[1]), (emits, ends[0])):  # an emit's length wins
        arrays = [None if g is None else np.ascontiguousarray(g, dtype=np.int64) for g in given]
        at = np.array([i for i, a in enumerate(arrays) if a is not None], dtype=np.int64)
        if any(arrays[i].ndim != 1 for i in at.tolist()):
            return None
        lengths = np.array([len(arrays[i]) for i in at.tolist()], dtype=np.int64)
        flat = np.concatenate([arrays[i] for i in at.tolist()] or [np.zeros(0, np.int64)])
        owner = np.repeat(np.arange(len(at)), lengths)
        wrong = (flat < 0) | (flat >= steps[units[at]][owner])
        wrong[1:] |= (flat[1:] < flat[:-1]) & (owner[1:] == owner[:-1])
        if wrong.any():
            return None
        n[at] = lengths
        sides.append((arrays, at, lengths, units))
    (take, take_at, take_len, _), (emit, *_) = sides
    if (n[take_at] != take_len).any():  # both given, of different lengths
        return None
    for _, at, _, units in sides:  # a side without steps: a token per step
        free = np.ones(count, dtype=bool)
        free[at] = False
        if (n[free] > steps[units[free]]).any():
            return None
    if not all(isinstance(d, int | np.integer) and 0 <= d < 2**62 for d in depths):
        return None
    n_list = n.tolist()
    latency = checked_latencies(latencies, n_list)
    if latency is None:
        return None
    return n_list, emit, take, [int(d) for d in depths], latency


def checked_latencies(values: list[float | np.ndarray], n: list[int]) -> list | None:
    """Per channel, its latency as `channels._per_token` makes it (the per-token ones copied
    into one array), if every one passes `_per_token`'s checks; else None."""
    out: list = []
    given: list[np.ndarray] = []
    for value, tokens in zip(values, n, strict=True):
        if isinstance(value, int | float):
            if not 0 <= value < math.inf:
                return None
            out.append(_ZERO if value == 0 else np.array(float(value)))
            continue
        value = np.asarray(value, dtype=np.float64)
        if value.ndim == 0:
            if not _finite_nonnegative(value):
                return None
            out.append(np.array(value))
        elif value.ndim > 1 or len(value) != tokens:
            return None
        else:
            out.append(None)
            given.append(value)
    if not given:
        return out
    flat = np.concatenate(given)  # a copy: the caller may reuse theirs
    if not _finite_nonnegative(flat):
        return None
    ends = np.cumsum([len(v) for v in given]).tolist()
    parts = iter([flat[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)])
    return [next(parts) if v is None else v for v in out]
