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

Solved by the shared event solver (`interpreter.core.channels`): the access side is a unit
whose step e + 1 is push e, starting at `P[e]` and costing the next entry's work `a[e+1]`,
after a step 0 that costs `fill + a[0]` and pushes nothing (the same bound as a release on
push 0, without a release array over every step for one value); the core is a unit of one
step per token, and each queue a channel between them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interpreter.core.channels import ChannelNetwork, Timeline


@dataclass
class Coupling:
    """What ties pushes to pops."""

    a: np.ndarray  # access work per push entry
    owner: np.ndarray  # token index that pops each entry (token k's own entry: k)
    is_token: np.ndarray  # bool per entry
    c: np.ndarray  # execute cycles per token
    fill: float
    control_depth: int
    data_depth: int
    # the entries of each queue (tokens, operands) in order and the token popping each
    # operand, if the caller has them (the queue match does): else found from `is_token`
    queues: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


@dataclass
class Times:
    push: np.ndarray  # P per entry
    start: np.ndarray  # S per token
    finish: np.ndarray  # F per token


ACCESS, CORE = 0, 1  # unit ids in `network`


def network(cp: Coupling) -> ChannelNetwork:
    """The coupling as units and channels (see module doc)."""
    n = len(cp.a)
    until_next_push = np.zeros(n + 1)
    until_next_push[:n] = cp.a
    until_next_push[0] += cp.fill
    net = ChannelNetwork()
    net.add_unit("access side", until_next_push)
    net.add_unit("core", cp.c)
    if len(cp.c):  # with no token to pop them, entries only cost access work
        if cp.queues is None:
            tokens, operands = np.flatnonzero(cp.is_token), np.flatnonzero(~cp.is_token)
            popper = np.asarray(cp.owner)[operands]
        else:
            tokens, operands, popper = cp.queues
        # token k is popped by core step k: the channel's default take
        net.add_channel("control queue", ACCESS, CORE, tokens + 1, depth=cp.control_depth)
        net.add_channel("data queue", ACCESS, CORE, operands + 1, popper, depth=cp.data_depth)
    return net


def times_of(timeline: Timeline) -> Times:
    """Push, start and finish times from the solved network."""
    return Times(timeline.start[ACCESS][1:], timeline.start[CORE], timeline.end(CORE))


def solve(cp: Coupling) -> Times:
    """The least times satisfying the model; `ChannelDeadlock` if the queues block both
    halves for good (a token whose operands are pushed after a full queue of later ones)."""
    return times_of(network(cp).solve())
