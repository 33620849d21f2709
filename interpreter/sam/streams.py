"""Streams as arrays, and the typed token vocabulary used to read and write them.

A stream is two aligned arrays: `ctl` says what each token is (a stop level k >= 0, or one
of DATA / EMPTY / DONE) and `val` holds the number of data tokens (0 elsewhere; b x b
blocks in block mode). Whole streams move through numpy at once; the typed tokens
(`Stop`, `EMPTY`, `DONE`) exist for tests, examples and error messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interpreter.errors import ExecutionError

DATA, EMPTY, DONE = -1, -2, -3


@dataclass(frozen=True)
class Stop:
    """Ends the innermost fiber and `level` enclosing ones."""

    level: int

    def __repr__(self) -> str:
        return f"S{self.level}"


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


EMPTY_TOKEN = _Marker("N")
DONE_TOKEN = _Marker("D")
R_TOKEN = _Marker("R")


@dataclass
class Tokens:
    """Every token of one stream as two arrays: `ctl` (int16 codes) and `val` (int64 for
    crd/ref, float64 for val). Not `Stream`: that is the program's handle (`dsl.sam`).

    Streams share arrays (a broadcast's copies are the same arrays), so no rule may write
    into an input's arrays.
    """

    ctl: np.ndarray
    val: np.ndarray

    def __len__(self) -> int:
        return len(self.ctl)

    @property
    def is_item(self) -> np.ndarray:
        """Data or Empty: a token that stands at a coordinate position."""
        return (self.ctl == DATA) | (self.ctl == EMPTY)

    @property
    def is_stop(self) -> np.ndarray:
        return self.ctl >= 0

    def tokens(self, repsig: bool = False) -> list:
        """Typed tokens (slow; for tests and messages). A repeat signal's S is `Stop(0)`."""
        out: list = []
        for c, v in zip(self.ctl.tolist(), self.val, strict=True):
            if repsig and c == DATA:
                out.append(R_TOKEN)
            elif c >= 0:
                out.append(Stop(c))
            elif c == EMPTY:
                out.append(EMPTY_TOKEN)
            elif c == DONE:
                out.append(DONE_TOKEN)
            elif isinstance(v, np.ndarray):
                out.append(v)
            else:
                out.append(v.item())
        return out


def make_stream(tokens: list, *, floats: bool = False) -> Tokens:
    """Build a stream from typed tokens (numbers, `Stop(k)`, `EMPTY_TOKEN`, `DONE_TOKEN`,
    `R_TOKEN` for repeat signals)."""
    ctl = np.empty(len(tokens), dtype=np.int16)
    val = np.zeros(len(tokens), dtype=np.float64 if floats else np.int64)
    for i, t in enumerate(tokens):
        if isinstance(t, Stop):
            ctl[i] = t.level
        elif t is EMPTY_TOKEN:
            ctl[i] = EMPTY
        elif t is DONE_TOKEN:
            ctl[i] = DONE
        elif t is R_TOKEN:
            ctl[i] = DATA
        else:
            ctl[i] = DATA
            val[i] = t
    return Tokens(ctl, val)


def empties_as_data(ctl: np.ndarray) -> np.ndarray:
    """The control codes with Empty turned into data (the same array when there is none).

    Branch-free: OR-ing in (ctl == EMPTY) sets the lowest bit of the Empty codes only, and
    EMPTY (-2) with its lowest bit set is DATA (-1).
    """
    empty = ctl == EMPTY
    if not empty.any():
        return ctl
    return np.bitwise_or(ctl, empty, dtype=ctl.dtype)


def check_well_formed(s: Tokens, where: str) -> None:
    """Exactly one DONE, and it is last."""
    if len(s.ctl) == 0 or s.ctl[-1] != DONE or int(np.count_nonzero(s.ctl == DONE)) != 1:
        raise ExecutionError(f"{where}: stream must end with exactly one D token")


def fiber_ids(ctl: np.ndarray) -> np.ndarray:
    """For every token, how many stops come strictly before it (its fiber index)."""
    stops = (ctl >= 0).astype(np.int64, copy=False)
    return np.cumsum(stops) - stops


def group_ids(ctl: np.ndarray, min_level: int) -> np.ndarray:
    """For every token, how many stops of level >= min_level come strictly before it."""
    big = (ctl >= min_level).astype(np.int64, copy=False)
    return np.cumsum(big) - big


@dataclass
class Units:
    """How a parent stream owns the fibers of a stream one level deeper.

    Each parent item (data or Empty) and each *bare* stop (one not directly after an item)
    owns one child fiber; `close` is the level of the stop that ends that child fiber
    (the scanner stop rule). `merged` marks stops consumed together with the item before.
    """

    token: np.ndarray  # parent token index of each unit (items and bare stops)
    is_item: np.ndarray  # unit is an item (else a bare stop, whose child fiber is empty)
    close: np.ndarray  # stop level that closes the unit's child fiber
    close_token: np.ndarray  # parent token consumed at the child's closing stop (or -1)


def units(ctl: np.ndarray) -> Units:
    item = (ctl == DATA) | (ctl == EMPTY)
    stop = ctl >= 0
    prev_item = np.zeros(len(ctl), dtype=bool)
    prev_item[1:] = item[:-1]
    merged = stop & prev_item
    bare = stop & ~prev_item
    unit_mask = item | bare
    tok = np.flatnonzero(unit_mask)
    nxt = np.minimum(tok + 1, len(ctl) - 1)
    is_item = item[tok]
    has_merge = is_item & merged[nxt]
    close = np.where(
        is_item,
        np.where(has_merge, ctl[nxt].astype(np.int64, copy=False) + 1, 0),
        ctl[tok].astype(np.int64, copy=False) + 1,
    )
    close_token = np.where(is_item, np.where(has_merge, nxt, -1), tok)
    return Units(tok, is_item, close, close_token)


def fibers(ctl: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start token, stop token, stop level) of every fiber of a stream."""
    stop_tok = np.flatnonzero(ctl >= 0)
    start = np.empty_like(stop_tok)
    if len(stop_tok):
        start[0] = 0
        start[1:] = stop_tok[:-1] + 1
    return start, stop_tok, ctl[stop_tok].astype(np.int64, copy=False)


def check_nesting(
    parent: Units, child_ctl: np.ndarray, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """Check the child stream has exactly the fibers the parent owns; (starts, stops)."""
    start, stop_tok, level = fibers(child_ctl)
    if len(stop_tok) != len(parent.token):
        raise ExecutionError(
            f"{where}: the inner stream has {len(stop_tok)} fibers but the"
            f" outer stream owns {len(parent.token)}"
        )
    bad = np.flatnonzero(level != parent.close)
    if len(bad):
        f = int(bad[0])
        raise ExecutionError(
            f"{where}: inner fiber {f} ends with S{int(level[f])}, the outer"
            f" stream needs S{int(parent.close[f])} there"
        )
    empty_needed = ~parent.is_item & (stop_tok > start)
    if empty_needed.any():
        f = int(np.flatnonzero(empty_needed)[0])
        raise ExecutionError(
            f"{where}: inner fiber {f} stands for an empty outer fiber but holds coordinates"
        )
    return start, stop_tok


def parent_consumption(
    parent: Units, n_parent: int, first_step: np.ndarray, close_step: np.ndarray, done_step: int
) -> np.ndarray:
    """Step at which each parent token is consumed, given each child fiber's first and
    closing steps (items at the first, merged and bare stops at the closing)."""
    steps = np.empty(n_parent, dtype=np.int64)
    steps[parent.token] = np.where(parent.is_item, first_step, close_step)
    merged = parent.close_token >= 0
    steps[parent.close_token[merged]] = close_step[merged]
    steps[n_parent - 1] = done_step
    return steps
