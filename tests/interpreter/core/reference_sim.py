"""The reference for `interpreter.core.channels`: the same model run as a machine, forward
in time, one event at a time, in plain Python.

At each instant every unit whose next step can start does (it is idle, the step's release
has passed, every token it takes is in its channel and has arrived, and every token it
emits finds room: the token `depth` places earlier was taken at least `offset` ago); then
the clock jumps to the next instant at which anything pending (a unit becoming idle, a token
arriving, a release, room appearing) happens. If nothing is pending and nothing can start
while steps remain, the machine is stuck for good: a deadlock.

Written apart from the solver (no worklist, no pointer arrays, no flat encoding) so the two
agree only if both implement the model. Slow: for small networks in tests. Dialects' tests
can build their networks and compare `ChannelNetwork.solve()` with `simulate`.
"""

from __future__ import annotations

import math

import numpy as np

from interpreter.core.channels import ChannelNetwork


class ReferenceDeadlock(Exception):
    """The machine stopped with steps left; `fired[u]` is how many steps of unit u ran."""

    def __init__(self, fired: list[int]) -> None:
        super().__init__(f"stuck with steps fired per unit {fired}")
        self.fired = fired


def simulate(net: ChannelNetwork) -> list[np.ndarray]:
    """Start time of every step of every unit (float64 arrays), or ReferenceDeadlock."""
    units, channels = net.units, net.channels
    steps = [len(u.cost) for u in units]
    start: list[list[float]] = [[] for _ in units]
    idle_at = [0.0] * len(units)  # when the unit may start its next step

    def release(u: int, s: int) -> float:
        r = units[u].release
        return 0.0 if r is None else float(r[s])

    def waits(u: int, s: int) -> list[float] | None:
        """Times the step must not start before; None while some event it needs has not
        happened yet (a token not emitted, a token depth places back not taken)."""
        times = [idle_at[u], release(u, s)]
        for ch in channels:
            if ch.consumer == u:
                for m in range(len(ch.take)):
                    if ch.take[m] != s:
                        continue
                    p, e = ch.producer, int(ch.emit[m])
                    if len(start[p]) <= e:
                        return None
                    times.append(start[p][e] + float(ch.latency[m]))
            if ch.producer == u and ch.depth > 0:
                for m in range(ch.depth, len(ch.emit)):
                    if ch.emit[m] != s:
                        continue
                    q, k = ch.consumer, int(ch.take[m - ch.depth])
                    if len(start[q]) <= k:
                        return None
                    times.append(start[q][k] + float(ch.offset[m]))
        return times

    now = 0.0
    while True:
        started = True
        while started:  # everything that can happen at this instant
            started = False
            for u in range(len(units)):
                s = len(start[u])
                if s == steps[u]:
                    continue
                times = waits(u, s)
                if times is not None and max(times) <= now:
                    start[u].append(now)
                    idle_at[u] = now + float(units[u].cost[s])
                    started = True
        if all(len(start[u]) == steps[u] for u in range(len(units))):
            return [np.array(t, dtype=np.float64) for t in start]
        later = math.inf
        for u in range(len(units)):
            s = len(start[u])
            if s < steps[u]:
                times = waits(u, s)
                if times is not None:
                    later = min(later, max(times))
        if later == math.inf:
            raise ReferenceDeadlock([len(t) for t in start])
        now = later
