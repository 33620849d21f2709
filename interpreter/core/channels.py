"""One event solver for units coupled by bounded channels: the timing core of all three
dialects (STeP's ops, SAM's primitives, DAE's access and execute halves).

The model. A *unit* runs its steps in order; step s of unit u starts at

    start[u][s] = max(start[u][s-1] + cost[u][s-1],   the unit is busy until then
                      release[u][s],                   an optional lower bound (HBM data)
                      arrival of every token s takes,
                      credit for every token s emits)  (backpressure)

and never before 0. A *channel* carries tokens m = 0, 1, ... from a producer unit to a
consumer unit: token m is emitted by producer step `emit[m]` and taken by consumer step
`take[m]` (both non-decreasing). It arrives at `start[producer][emit[m]] + latency[m]`
(STeP: the producing event's cost). With depth d >= 1 the step emitting token m may not
start before the consumer's step taking token m - d started, plus `offset[m]` (SAM: a
memory step's request latency); depth 0 is an unbounded channel. Costs, latencies and
offsets are >= 0, so the model is a machine that runs forward in time (the reference
simulator in the tests is one). An action that waits for room at its END (DAE's push after
its access work) is a step that starts at the push and costs the work before the next push
(or two steps: the work, then a step of cost 0 that emits).

Lagged credits (SAM's whole-step stall, seen one cycle late): a unit running back to back
(its step s could start the moment step s-1 ends, and every lagged credit of its earlier
steps is met by then) starts s then, whatever s's own lagged credits say; otherwise s also
waits for them. Not max-plus, but each step still needs only steps fired before it (s's
own lagged credits only when it stalls, s-1's before s).

The algorithm. Times are the least solution of these max-plus inequalities, and each one
refers only to steps that must fire earlier; so a step's start is final once every step it
refers to has fired. A worklist of units does that: a visit fires, in one batch, every
step before the first check that fails (its horizon); a blocked unit sleeps on the one
unit that check waits for, and is woken only once that unit fired past the step it needs.
Each step and token is handled a bounded number of times (cursors walk each channel's
tokens in order): exact by construction, no sweeps, linear in steps + tokens. The loop
(`channels_kernel.py`) is plain Python, compiled by numba for large networks only.

A deadlock is when the worklist empties before every step fired. Every blocked unit then
waits for another blocked unit (a finished one satisfies any wait), so following "who waits
for whom" from any blocked unit closes a cycle, which the error names.

Times are float64, exact for integers up to 2**53 (SAM converts back to int64): a solve
whose steps end later raises SimulationError rather than hand back rounded times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from interpreter.errors import SimulationError


class ChannelDeadlock(SimulationError):
    """Bounded channels block each other in a cycle. `cycle` lists the waits, each
    `Wait`; a dialect may catch this to reword it in its own terms."""

    def __init__(self, cycle: list[Wait]) -> None:
        self.cycle = cycle
        hops = " -> ".join(w.describe() for w in cycle)
        super().__init__(f"deadlock in a cycle of channels: {hops} -> back to {cycle[0].unit!r}")


@dataclass(frozen=True)
class Wait:
    """Unit `unit` cannot fire its step `step` because of `other`: either token `token` of
    `channel` was not emitted yet (`full` False), or the channel is full and `other` must
    first take token `token` (`full` True)."""

    unit: str
    step: int
    channel: str
    token: int
    other: str
    full: bool
    depth: int

    def describe(self) -> str:
        if self.full:
            return (
                f"{self.unit!r} (step {self.step}) waits for room on {self.channel!r} "
                f"(full at depth {self.depth}) until {self.other!r} takes token {self.token}"
            )
        return (
            f"{self.unit!r} (step {self.step}) waits for token {self.token} "
            f"on {self.channel!r} from {self.other!r}"
        )


@dataclass
class _Unit:
    name: str
    cost: np.ndarray
    release: np.ndarray | None
    uniform: bool = False  # known to cost the same every step (else `_Flat` checks)


@dataclass
class _Channel:
    """`emit`/`take` None: token m at step m; `latency`/`offset` a 0-d array: one value
    for every token (the common cases, which the solver reads without arrays)."""

    name: str
    producer: int
    consumer: int
    n: int
    emit: np.ndarray | None
    take: np.ndarray | None
    depth: int
    latency: np.ndarray
    offset: np.ndarray
    lagged: bool
    credit_only: bool

    def steps(self, side: str) -> np.ndarray:
        """Per token, the step that emits (`side` "emit") or takes ("take") it."""
        steps = self.emit if side == "emit" else self.take
        return np.arange(self.n, dtype=np.int64) if steps is None else steps

    def per_token(self, what: str) -> np.ndarray:
        """Per token, its latency or offset."""
        value = self.latency if what == "latency" else self.offset
        return np.broadcast_to(value, (self.n,)) if value.ndim == 0 else value


class ChannelNetwork:
    """Units and the channels between them; `solve` times every step (see module doc)."""

    def __init__(self) -> None:
        self.units: list[_Unit] = []
        self.channels: list[_Channel] = []
        self._flat: _Flat | None = None  # kept between solves until the network grows

    def add_unit(
        self,
        name: str,
        cost: np.ndarray | float,
        release: np.ndarray | None = None,
        *,
        steps: int | None = None,
    ) -> int:
        """A unit with one step per entry of `cost` (cycles until its next step may start),
        or, given `steps`, that many steps each costing the number `cost` (checked once, no
        array made: SAM's primitives cost their II every step); `release`, if given, is a
        lower bound on each step's start. Returns its id."""
        if steps is not None:
            if not isinstance(steps, int | np.integer) or steps < 0:
                raise ValueError(f"unit {name!r}: steps must be an integer >= 0, got {steps!r}")
            if not isinstance(cost, int | float) or not 0 <= cost < math.inf:
                raise ValueError(f"unit {name!r}: a cost per step must be a finite number >= 0")
            per_step = np.broadcast_to(np.float64(cost), (int(steps),))  # (read-only)
            unit = _Unit(name, per_step, _release(name, release, int(steps)), steps > 0)
        else:
            cost = np.ascontiguousarray(cost, dtype=np.float64)
            if cost.ndim != 1 or not _finite_nonnegative(cost):
                raise ValueError(f"unit {name!r}: costs must be a 1-d array of finite values >= 0")
            unit = _Unit(name, cost, _release(name, release, len(cost)))
        self.units.append(unit)
        self._flat = None
        return len(self.units) - 1

    def set_release(self, unit: int, release: np.ndarray | None) -> None:
        """New lower bounds for a unit's steps (an outer loop re-solving with, say, new HBM
        service times): the next `solve` reuses everything else it prepared."""
        u = self.units[unit]
        u.release = _release(u.name, release, len(u.cost))
        flat = self._flat
        if flat is not None:
            if flat.release is None:
                flat.release = np.zeros(flat.step_off[-1])
            a, b = flat.step_off[unit], flat.step_off[unit + 1]
            flat.release[a:b] = 0.0 if u.release is None else np.maximum(u.release, 0.0)

    def add_channel(
        self,
        name: str,
        producer: int,
        consumer: int,
        emit: np.ndarray | None = None,
        take: np.ndarray | None = None,
        *,
        depth: int = 0,
        latency: float | np.ndarray = 0.0,
        offset: float | np.ndarray = 0.0,
        lagged: bool = False,
        credit_only: bool = False,
    ) -> int:
        """A channel from `producer` to `consumer`: token m leaves producer step `emit[m]`
        and is taken by consumer step `take[m]` (None: token m at step m, one per step of
        that unit). `depth` 0 means unbounded; `lagged` credits are seen one step late (see
        the module doc); a `credit_only` channel only bounds the producer (its tokens delay
        no consumer step: the data travels on another channel). Returns its id."""
        for side, u in (("producer", producer), ("consumer", consumer)):
            if not 0 <= u < len(self.units):
                raise ValueError(f"channel {name!r}: no unit {u} as {side}")
        emit = self._steps(name, "emit", emit, producer)
        take = self._steps(name, "take", take, consumer)
        n = len(self.units[producer].cost) if emit is None and take is None else None
        n = n if n is not None else len(emit) if emit is not None else len(take)
        if emit is not None and take is not None and len(emit) != len(take):
            raise ValueError(f"channel {name!r}: {len(emit)} emits but {len(take)} takes")
        for side, steps, u in (("emit", emit, producer), ("take", take, consumer)):
            if steps is None and n > len(self.units[u].cost):
                raise ValueError(
                    f"channel {name!r}: {n} tokens, one per step, but the {side} side has"
                    f" {len(self.units[u].cost)} steps"
                )
        if not isinstance(depth, int | np.integer) or not 0 <= depth < 2**62:
            raise ValueError(f"channel {name!r}: depth must be an integer >= 0, got {depth!r}")
        if (lagged or credit_only) and depth == 0:
            kind = "lagged" if lagged else "credit-only"
            raise ValueError(f"channel {name!r}: a {kind} channel needs a depth >= 1")
        values = {what: _per_token(name, what, value, n)
                  for what, value in (("latency", latency), ("offset", offset))}  # fmt: skip
        self.channels.append(
            _Channel(
                name,
                producer,
                consumer,
                n,
                emit,
                take,
                int(depth),
                **values,
                lagged=lagged,
                credit_only=credit_only,
            )
        )
        self._flat = None
        return len(self.channels) - 1

    def add_units(self, names: list[str], costs: list[np.ndarray]) -> range:
        """Units `add_unit(names[i], costs[i])`, their costs checked together (STeP adds
        some 2,500 units per simulation). Returns their ids."""
        arrays = [np.ascontiguousarray(c, dtype=np.float64) for c in costs]
        if len(arrays) != len(names):
            raise ValueError(f"{len(names)} unit names but {len(arrays)} costs")
        if not (
            all(a.ndim == 1 for a in arrays)
            and _finite_nonnegative(np.concatenate(arrays) if arrays else _ZERO)
        ):
            for name, cost in zip(names, costs, strict=True):
                self.add_unit(name, cost)  # the first bad unit raises as `add_unit` does
            raise AssertionError("add_units refused units that add_unit accepts")
        first = len(self.units)
        self.units += [_Unit(name, cost, None) for name, cost in zip(names, arrays, strict=True)]
        self._flat = None
        return range(first, len(self.units))

    def add_channels(
        self,
        names: list[str],
        producers: list[int],
        consumers: list[int],
        emits: list[np.ndarray | None],
        takes: list[np.ndarray | None],
        depths: list[int],
        latencies: list[float | np.ndarray],
    ) -> range:
        """Channels `add_channel(names[i], producers[i], consumers[i], emits[i], takes[i],
        depth=depths[i], latency=latencies[i])` (no offset; none lagged or credit-only),
        all checked together (`channel_batch.checked_channels`): STeP adds some 3,500
        channels per simulation, and each checked alone cost ~10 us of numpy calls on its
        few tokens. Returns their ids."""
        from interpreter.core.channel_batch import checked_channels  # (it imports this)

        columns = (producers, consumers, emits, takes, depths, latencies)
        if not all(len(c) == len(names) for c in columns):
            raise ValueError("add_channels needs as many of each field as names")
        checked = checked_channels([len(u.cost) for u in self.units], *columns)
        if checked is None:
            for name, producer, consumer, emit, take, depth, latency in zip(
                names, *columns, strict=True
            ):  # the first bad channel raises as `add_channel` does
                self.add_channel(name, producer, consumer, emit, take, depth=depth, latency=latency)
            raise AssertionError("add_channels refused channels that add_channel accepts")
        first = len(self.channels)
        self.channels += [
            _Channel(name, p, c, n, e, t, d, lat, _ZERO, lagged=False, credit_only=False)
            for name, p, c, (n, e, t, d, lat) in zip(
                names, producers, consumers, zip(*checked, strict=True), strict=True
            )
        ]
        self._flat = None
        return range(first, len(self.channels))

    def _steps(self, name: str, what: str, steps: np.ndarray | None, unit: int):
        if steps is None:
            return None
        steps = np.ascontiguousarray(steps, dtype=np.int64)
        n_steps = len(self.units[unit].cost)
        # (count_nonzero: a network may have thousands of channels, and numpy's reductions
        # cost several times as much per call on their few tokens)
        if steps.ndim != 1 or (
            len(steps)
            and (steps[0] < 0 or steps[-1] >= n_steps or np.count_nonzero(steps[1:] < steps[:-1]))
        ):
            raise ValueError(
                f"channel {name!r}: {what} steps must be non-decreasing, within 0..{n_steps - 1}"
            )
        return steps

    def solve(self) -> Timeline:
        """Start times of every step; raises ChannelDeadlock if some step can never fire."""
        run = self.resumable()
        run.run()
        return run.timeline()

    def resumable(self) -> ResumableSolve:
        """A solve that can stop and resume: a step whose release is +inf (`hold`) does not
        fire, nor does anything waiting on it, until `release_steps` gives it a time; `run`
        then fires what became ready. For an outer model that learns some release times
        only from earlier starts (STeP's shared HBM serves requests in order of issue)."""
        if self._flat is None:
            self._flat = _Flat(self)
        return ResumableSolve(self, self._flat)

    def _blocker(self, u: int, fired: np.ndarray, lag_seen: np.ndarray) -> tuple[int, Wait]:
        """What blocked unit u waits for at its next step, in the order the solver checks:
        (the unit it waits for, the wait)."""
        s = int(fired[u])
        unit = self.units[u].name
        for ch in self.channels:
            take, emit = ch.steps("take"), ch.steps("emit")
            tokens = np.flatnonzero(take == s) if ch.consumer == u and not ch.credit_only else []
            if len(tokens) and fired[ch.producer] <= emit[tokens[-1]]:
                m = int(tokens[fired[ch.producer] <= emit[tokens]][0])
                other = self.units[ch.producer].name
                return ch.producer, Wait(unit, s, ch.name, m, other, False, ch.depth)
        lagged_step = s - 1 if s > 0 and lag_seen[u] < s else s
        for lagged, step in ((False, s), (True, lagged_step)):
            for ch in self.channels:
                if ch.producer != u or not ch.depth or ch.lagged != lagged:
                    continue
                take = ch.steps("take")
                for m in np.flatnonzero(ch.steps("emit") == step):
                    if m >= ch.depth and fired[ch.consumer] <= take[m - ch.depth]:
                        other = self.units[ch.consumer].name
                        wait = Wait(unit, s, ch.name, int(m - ch.depth), other, True, ch.depth)
                        return ch.consumer, wait
        # only a held step (ResumableSolve.hold) waits for nothing
        raise ValueError(f"unit {unit!r} step {s} is still held")

    def _deadlock_cycle(self, fired: np.ndarray, lag_seen: np.ndarray) -> list[Wait]:
        blocked = [u for u, x in enumerate(self.units) if fired[u] < len(x.cost)]
        u, path, seen = blocked[0], [], {}
        while u not in seen:
            seen[u] = len(path)
            u_next, wait = self._blocker(u, fired, lag_seen)
            path.append(wait)
            u = u_next
        return path[seen[u] :]


class ResumableSolve:
    """One solve in progress (see `ChannelNetwork.resumable`). Steps are numbered flat:
    step s of unit u is `step_off[u] + s`; `start` holds the start of every fired step,
    `fired[u]` how many steps of unit u fired."""

    def __init__(self, network: ChannelNetwork, flat: _Flat) -> None:
        self.network, self.flat = network, flat
        self.step_off = flat.step_off
        # while no step has a release nor is held, the loop is given none to read (`start`
        # holds 0 until a step's tokens and credits are folded in)
        self._released = any(u.release is not None for u in network.units)
        self._release = flat.release.copy() if self._released else None  # see `release`
        self.start = np.zeros(flat.step_off[-1], dtype=np.float64)  # a step's, once it fired
        self.fired = np.zeros(len(network.units), dtype=np.int64)
        self.lag_seen = np.zeros(len(network.units), dtype=np.int64)
        self.lag = np.full(len(network.units), -np.inf)
        # per channel, the next token its consumer takes / producer emits / folds a lagged
        # credit of (see channels_kernel)
        n_units, n_channels = len(network.units), len(flat.ch_len)
        self.cursors = [np.zeros(n_channels, dtype=np.int64) for _ in range(3)]
        # the loop's work arrays, kept from run to run (an outer loop may resume a solve
        # thousands of times): its ring of units, who sleeps on whom, where each channel's
        # horizon scan and folds stopped, the lagged credits per step (see run_events)
        self._work = (
            np.empty(n_units, dtype=np.int64),
            np.zeros(n_units, dtype=np.bool_),
            np.full(n_units, -1, dtype=np.int64),
            np.full(n_units, -1, dtype=np.int64),
            np.zeros(n_units, dtype=np.int64),
            np.zeros(n_units, dtype=np.bool_),
            np.zeros(n_channels, dtype=np.int64),
            np.zeros(n_channels, dtype=np.int64),
            np.zeros(n_channels, dtype=np.int64),
            np.empty(len(self.start) if len(flat.lag_ch) else 0),
        )
        self._seed = flat.order  # the units the next run visits first: all of them
        self._resumed = False  # steps were held: `run` will be called once per release round

    def hold(self, unit: int, steps: np.ndarray) -> None:
        """Steps of `unit` that may not fire until released."""
        self.release[self.step_off[unit] + np.asarray(steps, dtype=np.int64)] = np.inf
        self._released = True
        self._resumed = True

    def release_steps(self, steps: np.ndarray, times: np.ndarray) -> None:
        """Give held steps (flat numbers) their release times; the next `run` visits their
        units (and what those wake), not the whole network."""
        steps = np.asarray(steps, dtype=np.int64)
        self.release[steps] = np.maximum(times, 0.0)
        units = np.searchsorted(self.step_off, steps, side="right") - 1
        self._seed = np.concatenate([self._seed, units])

    @property
    def release(self) -> np.ndarray:
        """Every step's release (flat numbers), made on first use when no unit has any:
        most solves hold nothing (SAM's without HBM), and need no array zeroed per step."""
        if self._release is None:
            self._release = np.zeros(len(self.start))
        return self._release

    def run(self) -> None:
        """Fire every step that can fire now."""
        f = self.flat
        _event_loop(f.size * RESUMED_WEIGHT if self._resumed else f.size)(
            f.step_off, f.cost, f.cost_at, f.unit_cost,
            self.release if self._released else _NO_TIMES, f.in_off, f.in_ch,
            f.out_off, f.out_ch, f.lag_off, f.lag_ch, f.ch_prod, f.ch_cons, f.ch_depth,
            f.ch_len, f.emit, f.emit_at, f.take, f.take_at, f.latency, f.lat_at, f.ch_lat,
            f.offset, f.off_at, f.ch_off, self._seed, self.start, self.fired, self.lag_seen,
            self.lag, *self.cursors, *self._work,
        )  # fmt: skip
        self._seed = _NO_UNITS

    def timeline(self) -> Timeline:
        """The solved times; raises ChannelDeadlock if some step can never fire, or
        ValueError if waits end at a step still held."""
        off = self.step_off
        if (self.fired < off[1:] - off[:-1]).any():  # (ValueError if a step is still held)
            raise ChannelDeadlock(self.network._deadlock_cycle(self.fired, self.lag_seen))
        last = off[1:][off[1:] > off[:-1]] - 1  # a unit's last step ends after all others
        if len(last) and not (self.start[last] + self.flat.last_cost).max() <= EXACT:
            raise SimulationError(
                f"steps end after {EXACT:.0f} cycles, where times are no longer exact: costs,"
                " latencies or releases too large to time"
            )
        return Timeline(self.network, self.start, off)


class Timeline:
    """The solved start time of every step of every unit (float64 arrays): `start[u]`, views
    of `flat`, all steps unit by unit (unit u's from `step_off[u]`), for a caller that
    wants them in one array."""

    def __init__(self, network: ChannelNetwork, flat: np.ndarray, step_off: np.ndarray) -> None:
        self.network, self.flat, self.step_off = network, flat, step_off
        self.start = [flat[a:b] for a, b in zip(step_off[:-1], step_off[1:], strict=True)]

    def end(self, unit: int) -> np.ndarray:
        """When each step's cost has elapsed (the earliest start of the next step)."""
        return self.start[unit] + self.network.units[unit].cost

    def emitted(self, channel: int) -> np.ndarray:
        """Per token: the start of the step that emits it."""
        ch = self.network.channels[channel]
        return self.start[ch.producer][ch.steps("emit")]

    def arrival(self, channel: int) -> np.ndarray:
        """Per token: when the consumer may take it (emitted + latency)."""
        return self.emitted(channel) + self.network.channels[channel].latency

    def taken(self, channel: int) -> np.ndarray:
        """Per token: the start of the consumer step that takes it."""
        ch = self.network.channels[channel]
        return self.start[ch.consumer][ch.steps("take")]

    def occupancy(self, channel: int) -> int:
        """Most tokens the channel held at once, a token entering when its depth bound sees
        it (emitted - offset) and leaving when taken: at most `depth` when bounded; when
        unbounded, the least depth giving these same times (if every step and latency takes
        time: along zero-time paths a token may leave at the instant a later one enters,
        yet causally after it)."""
        ch = self.network.channels[channel]
        return peak_occupancy(self.emitted(channel) - ch.offset, self.taken(channel))


EXACT = 2.0**53  # float64 times are exact integers up to here
_NO_UNITS = np.zeros(0, dtype=np.int64)
_NO_TIMES = np.zeros(0)


# A solve with held steps resumes once per release round (STeP's HBM: ~1,300 rounds on a
# 130K-step MoE layer), each paying the plain loop's slower visits again: it counts as this
# many times its size, so it runs compiled from 20K steps + tokens, not 200K.
RESUMED_WEIGHT = 10


def _event_loop(size: int):
    """The event loop for a network of `size` steps + tokens: compiled once it is, or
    once the network is large enough to pay for it (`RUN_EVENTS.compile_from`)."""
    from interpreter.core.channels_kernel import RUN_EVENTS

    return RUN_EVENTS.pick(size)


def _compiled():
    from interpreter.core.channels_kernel import RUN_EVENTS

    return RUN_EVENTS.compiled()


def warm_up() -> None:
    """Compile (or load) the solver's numba loop now: set-up calls this once, so that the
    first large simulation a user runs does not pay numba's 15-20 s compile. The cache lives
    beside the kernel's source (numba falls back to a per-user cache folder when that is
    read-only, and recompiles a cache whose source changed)."""
    net = ChannelNetwork()
    a, b = net.add_unit("a", np.ones(2)), net.add_unit("b", np.ones(2))
    net.add_channel("ab", a, b, depth=1, lagged=True)
    net.add_channel("ab2", a, b, np.array([0, 1]), np.array([1, 1]), latency=np.ones(2))
    _compiled()
    net.solve()


def peak_occupancy(entered: np.ndarray, taken: np.ndarray) -> int:
    """Most tokens in a FIFO at once, given per token (in order) when it entered and when it
    was taken (non-decreasing). A token taken at the instant another enters has left (that
    is how a full FIFO lets the next one in); each token counts itself."""
    if not len(entered):
        return 0
    order = np.arange(len(entered))
    gone = np.minimum(np.searchsorted(taken, entered, side="right"), order)
    return int((order + 1 - gone).max())


class _Flat:
    """The network as the flat arrays the compiled loop reads."""

    def __init__(self, net: ChannelNetwork) -> None:
        units, chans = net.units, net.channels
        sizes = np.array([len(u.cost) for u in units], dtype=np.int64)
        self.step_off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        # per-step costs only for units whose steps cost differently (see channels_kernel)
        uniform = [u.uniform or _same(u.cost) for u in units]
        self.cost, self.cost_at = _stored(
            [None if same else u.cost for u, same in zip(units, uniform, strict=True)],
            np.float64,
        )
        self.unit_cost = np.array([u.cost[0] if len(u.cost) else 0.0 for u in units])
        self.last_cost = np.array([u.cost[-1] for u in units if len(u.cost)])
        # every step's release, or None when no unit has any (then none is allocated)
        self.release: np.ndarray | None = None
        for u, a, b in zip(units, self.step_off[:-1], self.step_off[1:], strict=True):
            if u.release is not None:
                if self.release is None:
                    self.release = np.zeros(self.step_off[-1])
                self.release[a:b] = np.maximum(u.release, 0.0)
        self.ch_prod = np.array([c.producer for c in chans], dtype=np.int64)
        self.ch_cons = np.array([c.consumer for c in chans], dtype=np.int64)
        self.ch_depth = np.array([c.depth for c in chans], dtype=np.int64)
        self.ch_len = np.array([c.n for c in chans], dtype=np.int64)
        self.size = int(self.step_off[-1] + self.ch_len.sum())
        # per-token arrays only where they say something (see channels_kernel)
        self.emit, self.emit_at = _stored([c.emit for c in chans], np.int64)
        self.take, self.take_at = _stored([c.take for c in chans], np.int64)
        self.latency, self.lat_at = _stored([_varies(c.latency) for c in chans], np.float64)
        self.offset, self.off_at = _stored([_varies(c.offset) for c in chans], np.float64)
        self.ch_lat = np.array([_one(c.latency) for c in chans], dtype=np.float64)
        self.ch_off = np.array([_one(c.offset) for c in chans], dtype=np.float64)
        lagged = np.array([c.lagged for c in chans], dtype=bool)
        credit_only = np.array([c.credit_only for c in chans], dtype=bool)
        self.in_off, self.in_ch = _adjacency(self.ch_cons, len(units), ~credit_only)
        bounded = ~lagged & (self.ch_depth > 0)  # the credits a unit checks as it emits
        self.out_off, self.out_ch = _adjacency(self.ch_prod, len(units), bounded)
        self.lag_off, self.lag_ch = _adjacency(self.ch_prod, len(units), lagged)
        self.order = _topological(self.ch_prod, self.ch_cons, len(units))


def _per_token(name: str, what: str, value: float | np.ndarray, n: int) -> np.ndarray:
    """A channel's latency or offset: a 0-d array (one value; a plain number is checked
    without numpy, as STeP adds some 15,000 channels per simulation) or one per token (a
    copy: the caller may reuse theirs)."""
    if isinstance(value, int | float):
        if not 0 <= value < math.inf:  # (NaN fails too)
            raise ValueError(f"channel {name!r}: {what} must be finite and >= 0")
        return _ZERO if value == 0 else np.array(float(value))
    value = np.array(value, dtype=np.float64)
    if value.ndim > 1 or (value.ndim == 1 and len(value) != n):
        raise ValueError(f"channel {name!r}: {what} needs one value or one per token")
    if not _finite_nonnegative(value):
        raise ValueError(f"channel {name!r}: {what} must be finite and >= 0")
    return value


def _finite_nonnegative(values: np.ndarray) -> bool:
    """Every value in 0 <= v < inf (NaN fails): one count rather than two reductions, as
    STeP checks some 25,000 small arrays per simulation."""
    return np.count_nonzero((values >= 0) & (values < math.inf)) == values.size


_ZERO = np.zeros(())  # shared by every channel without latency or offset: read-only
_ZERO.flags.writeable = False


def _release(name: str, release: np.ndarray | None, steps: int) -> np.ndarray | None:
    if release is None:
        return None
    release = np.ascontiguousarray(release, dtype=np.float64)
    if release.shape != (steps,) or np.isnan(release).any():
        raise ValueError(f"unit {name!r}: release needs one time per step")
    return release


def _topological(producer: np.ndarray, consumer: np.ndarray, n_units: int) -> np.ndarray:
    """Units with every producer before its consumers (Kahn's algorithm), then the units
    on cycles in id order."""
    feeds: list[list[int]] = [[] for _ in range(n_units)]
    waiting = np.zeros(n_units, dtype=np.int64)
    for p, c in zip(producer.tolist(), consumer.tolist(), strict=True):
        if p != c:
            feeds[p].append(c)
            waiting[c] += 1
    order = [u for u in range(n_units) if waiting[u] == 0]
    for u in order:  # grows while it is read
        for c in feeds[u]:
            waiting[c] -= 1
            if waiting[c] == 0:
                order.append(c)
    placed = set(order)
    order += [u for u in range(n_units) if u not in placed]
    return np.array(order, dtype=np.int64)


def _same(cost: np.ndarray) -> bool:
    """Whether every step costs the same (none: no). The ends first: a unit whose steps
    differ mostly differs there (DAE's access side: its first step is the fill, its last 0),
    sparing a pass over a million steps."""
    return len(cost) > 0 and cost[-1] == cost[0] and bool((cost == cost[0]).all())


def _cat(arrays: list[np.ndarray], dtype) -> np.ndarray:
    return np.ascontiguousarray(np.concatenate(arrays) if arrays else np.zeros(0), dtype=dtype)


def _stored(arrays: list[np.ndarray | None], dtype) -> tuple[np.ndarray, np.ndarray]:
    """The given arrays end to end, and where each starts (-1 for None). A single writable
    array is used as it is, not copied: the loop only reads it (a read-only one would make
    numba compile the loop again for that type)."""
    kept = [a for a in arrays if a is not None]
    sizes = np.array([0 if a is None else len(a) for a in arrays], dtype=np.int64)
    at = np.cumsum(sizes) - sizes
    at[np.array([a is None for a in arrays], dtype=bool)] = -1
    if len(kept) == 1 and kept[0].flags.writeable:
        flat = kept[0]
    else:
        flat = np.concatenate(kept) if kept else np.zeros(0)
    return np.ascontiguousarray(flat, dtype=dtype), at


def _varies(value: np.ndarray) -> np.ndarray | None:
    return None if value.ndim == 0 else value


def _one(value: np.ndarray) -> float:
    return float(value) if value.ndim == 0 else 0.0


def _adjacency(
    unit_of: np.ndarray, n_units: int, chosen: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """CSR lists: the (chosen) channels of each unit (those whose `unit_of` is that unit)."""
    ids = np.arange(len(unit_of)) if chosen is None else np.flatnonzero(chosen)
    order = ids[np.argsort(unit_of[ids], kind="stable")].astype(np.int64)
    counts = np.bincount(unit_of[ids], minlength=n_units)
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), order
