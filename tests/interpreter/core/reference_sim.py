"""The reference for `interpreter.core.channels`: the same model run as a machine, forward
in time, one event at a time, in plain Python.

At each instant every unit whose next step can start does (it is idle, the step's release
has passed, every token it takes is in its channel and has arrived, and every token it
emits finds room: the token `depth` places earlier was taken at least `offset` ago; lagged
room is checked one step late, as `channels.py` says); then the clock jumps to the next
instant at which some step could start. If no step can ever start while steps remain, the
machine is stuck for good: a deadlock.

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
    emits = [ch.steps("emit") for ch in channels]
    takes = [ch.steps("take") for ch in channels]
    latencies = [ch.per_token("latency") for ch in channels]
    offsets = [ch.per_token("offset") for ch in channels]

    def release(u: int, s: int) -> float:
        r = units[u].release
        return 0.0 if r is None else float(r[s])

    def credit(u: int, s: int, lagged: bool) -> float | None:
        """The latest credit bound on step s of u from its (lagged or other) channels;
        None while a token it depends on was not taken yet."""
        bound = -math.inf
        for c, ch in enumerate(channels):
            if ch.producer != u or not ch.depth or ch.lagged != lagged:
                continue
            for m in range(ch.depth, len(emits[c])):
                if emits[c][m] == s:
                    q, k = ch.consumer, int(takes[c][m - ch.depth])
                    if len(start[q]) <= k:
                        return None
                    bound = max(bound, start[q][k] + float(offsets[c][m]))
        return bound

    def candidate(u: int, s: int) -> float | None:
        """When step s of u starts if nothing else happens first; None while an event it
        depends on has not happened."""
        times = [idle_at[u], release(u, s), credit(u, s, False)]
        for c, ch in enumerate(channels):
            if ch.consumer == u and not ch.credit_only:
                for m in range(len(takes[c])):
                    if takes[c][m] == s:
                        p, e = ch.producer, int(emits[c][m])
                        ready = len(start[p]) > e
                        times.append(start[p][e] + float(latencies[c][m]) if ready else None)
        if None in times:
            return None
        ready = max(times)
        if not any(ch.lagged and ch.producer == u for ch in channels):
            return ready
        earlier = [credit(u, j, True) for j in range(s)]
        if None in earlier:
            return None
        late = max(earlier, default=-math.inf)
        if s > 0 and ready == idle_at[u] and late <= ready:
            return ready  # running back to back: this step's own lagged credits come late
        own = credit(u, s, True)
        return None if own is None else max(ready, late, own)

    now = 0.0
    while True:
        started = True
        while started:  # everything that can happen at this instant
            started = False
            for u in range(len(units)):
                s = len(start[u])
                if s == steps[u]:
                    continue
                when = candidate(u, s)
                if when is not None and when <= now:
                    start[u].append(now)
                    idle_at[u] = now + float(units[u].cost[s])
                    started = True
        if all(len(start[u]) == steps[u] for u in range(len(units))):
            return [np.array(t, dtype=np.float64) for t in start]
        later = math.inf
        for u in range(len(units)):
            s = len(start[u])
            if s < steps[u]:
                when = candidate(u, s)
                if when is not None:
                    later = min(later, when)
        if later == math.inf:
            raise ReferenceDeadlock([len(t) for t in start])
        now = later
