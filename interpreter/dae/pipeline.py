"""Timing of the two halves coupled through the bounded control and data queues.

Model (all times in cycles):

- the access side pushes entry e (token or operand, in push order) at
  `P[e] = max(P[e-1] + a[e], B[e])`, `P[-1] = fill` (the first load's latency), where
  `a[e]` is the access work charged to e and `B[e]` the backpressure bound: a token cannot
  enter before the token `control_depth` places earlier was popped, an operand not before
  the one `data_depth` places earlier was;
- the core starts token k once it finished token k-1 and every entry k pops has arrived:
  `S[k] = max(F[k-1], max P[e] over e popped by k)`, `F[k] = S[k] + c[k]`; it pops the
  token and its operands at `S[k]`.

`solve` computes the least solution with array passes (each recurrence of the form
`x[i] = max(x[i-1] + w[i], b[i])` is a cumulative max), alternating forward (P from B) and
backward (B from S) until nothing changes. `solve_sequential` is the same model as a plain
loop: the reference the tests compare against, and the fallback if the alternation were
ever slow to settle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_ROUNDS = 200


@dataclass
class Coupling:
    """What ties pushes to pops."""

    a: np.ndarray  # access work per push entry
    owner: np.ndarray  # token index that pops each entry
    is_token: np.ndarray  # bool per entry
    c: np.ndarray  # execute cycles per token
    fill: float
    control_depth: int
    data_depth: int


@dataclass
class Times:
    push: np.ndarray  # P per entry
    start: np.ndarray  # S per token
    finish: np.ndarray  # F per token
    rounds: int


def _forward(a: np.ndarray, bound: np.ndarray, fill: float) -> np.ndarray:
    acc = np.cumsum(a)
    return acc + np.maximum(fill, np.maximum.accumulate(bound - acc))


def _starts(ready: np.ndarray, c: np.ndarray) -> np.ndarray:
    before = np.cumsum(c) - c  # C[k-1]
    return before + np.maximum(0.0, np.maximum.accumulate(ready - before))


def _backpressure(
    cp: Coupling,
    start: np.ndarray,
    tok_idx: np.ndarray,
    dat_idx: np.ndarray,
    data_owner: np.ndarray,
) -> np.ndarray:
    bound = np.full(len(cp.a), -np.inf)
    qc, qd = cp.control_depth, cp.data_depth
    if len(tok_idx) > qc:
        bound[tok_idx[qc:]] = start[: len(tok_idx) - qc]
    if len(dat_idx) > qd:
        bound[dat_idx[qd:]] = start[data_owner[: len(dat_idx) - qd]]
    return bound


def solve(cp: Coupling) -> Times:
    n_tok = len(cp.c)
    if n_tok == 0:
        push = _forward(cp.a, np.full(len(cp.a), -np.inf), cp.fill)
        return Times(push, np.zeros(0), np.zeros(0), 1)
    tok_idx = np.flatnonzero(cp.is_token)
    dat_idx = np.flatnonzero(~cp.is_token)
    data_owner = cp.owner[dat_idx]
    order = np.argsort(cp.owner, kind="stable")
    cuts = np.flatnonzero(np.diff(cp.owner[order], prepend=-1))
    bound = np.full(len(cp.a), -np.inf)
    for rounds in range(1, MAX_ROUNDS + 1):
        push = _forward(cp.a, bound, cp.fill)
        ready = np.maximum.reduceat(push[order], cuts)
        start = _starts(ready, cp.c)
        new = _backpressure(cp, start, tok_idx, dat_idx, data_owner)
        if np.array_equal(new, bound):
            return Times(push, start, start + cp.c, rounds)
        bound = new
    return solve_sequential(cp)


def solve_sequential(cp: Coupling) -> Times:
    """The same model, one entry and one token at a time (reference implementation).

    Entries are pushed in order; before pushing entry e the core runs every token it can,
    i.e. the tokens whose entries are all pushed, until the queue e needs has room.
    """
    n, n_tok = len(cp.a), len(cp.c)
    entries_of: list[list[int]] = [[] for _ in range(n_tok)]
    for e in range(n):
        entries_of[int(cp.owner[e])].append(e)
    push = np.zeros(n)
    start = np.zeros(n_tok)
    finish = np.zeros(n_tok)
    popped_at: dict[int, float] = {}  # entry -> pop time, known once its token started
    tok_entries: list[int] = []
    dat_entries: list[int] = []
    state = {"next": 0, "finish": 0.0}

    def run_until(pushed: int) -> None:
        """Run every token in order whose entries are all among the first `pushed`."""
        while state["next"] < n_tok and entries_of[state["next"]][-1] < pushed:
            k = state["next"]
            start[k] = max(state["finish"], max(push[e] for e in entries_of[k]))
            finish[k] = start[k] + cp.c[k]
            state["finish"] = finish[k]
            for e in entries_of[k]:
                popped_at[e] = start[k]
            state["next"] += 1

    prev = cp.fill
    for e in range(n):
        run_until(e)
        bound = -np.inf
        queue, depth = (
            (tok_entries, cp.control_depth) if cp.is_token[e] else (dat_entries, cp.data_depth)
        )
        if len(queue) >= depth:
            bound = popped_at[queue[len(queue) - depth]]
        queue.append(e)
        push[e] = max(prev + cp.a[e], bound)
        prev = push[e]
    run_until(n)
    return Times(push, start, finish, 0)
