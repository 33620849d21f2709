"""When does every event of every STeP op happen: the ops on the shared channel solver,
with the HBM served around it.

Each op is a unit with its own clock that runs its events (`OpEvents`, from `costs.py`) in
order:

    start[e] = max(end[e-1], inputs of e available, space for the outputs of e)
    end[e]   = start[e] + cost[e]

An item is available to its consumer when the producing event ends (an off-chip load's
tile when the HBM returns it); a channel holds `channel_depth` items, so the event that
emits item k waits until the consumer dequeued (started the event consuming) item
k - depth. The HBM is one shared server: requests, in order of issue (ties: node, then
event), take bytes / offchip_bw cycles each; the data is usable from the next whole cycle
plus `offchip_latency` (reads issue when the load event starts, writes when the store
event ends).

On `interpreter.core.channels`: every op is a unit and every stream a channel of depth
`channel_depth` whose tokens arrive when their event ends (latency = the event's cost).
An off-chip load is two units: the op itself, which issues one request per event and
holds the channel's credit (a zero-latency channel of the real depth to the consumer),
and a cost-0 data unit that passes each tile on when it is back: its step e takes the
issue (latency: the transfer and the HBM latency, the least the data can take) and is
held until the HBM has served request e.

The HBM serves in order of issue, which the solver cannot know while it fires steps in
dependency order, so the solve stops and resumes: fire everything that can fire, then
serve the issued requests that no unfired step can precede, release their data, resume.
A step that has not fired waits, through its chain of waits, for some held data, so it
starts no sooner than the earliest time a held request could be back (the server's
backlog and each request's transfer and latency bound it): requests issued before that
are served now, in order. Exact: each round serves at least the earliest issued request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsl.step.ir import Port, Program
from interpreter.core.channels import ChannelDeadlock, ChannelNetwork, Timeline
from interpreter.core.targets import StepTarget
from interpreter.errors import ExecutionError
from interpreter.step.costs import OpEvents
from interpreter.step.hbm_kernel import SERVE_ROUND


@dataclass
class EventTimes:
    """The solved schedule: per op, when each event starts and ends; per stream, when each
    item reaches its consumer; when the last store's data is written; how many times the
    solve stopped for the HBM."""

    start: list[np.ndarray]
    end: list[np.ndarray]
    arrival: dict[Port, np.ndarray]
    stores_done: float
    hbm_rounds: int

    @property
    def cycles(self) -> float:
        """When the last event ended, the last item arrived or the last write landed."""
        last = [float(e[-1]) for e in self.end if len(e)]
        last += [float(t.max()) for t in self.arrival.values() if len(t)]
        return max([*last, self.stores_done], default=0.0)


class OpNetwork:
    """The program's ops and streams as a `ChannelNetwork`, plus the HBM's requests."""

    def __init__(self, program: Program, plans: list[OpEvents], target: StepTarget) -> None:
        self.program, self.plans, self.target = program, plans, target
        depth = target.channel_depth
        net = self.net = ChannelNetwork()
        self.label = [n.label() for n in program.nodes]  # once each: every stream names two
        self.unit = list(net.add_units(self.label, [p.cost for p in plans]))
        self.owner = {u: n.id for n, u in zip(program.nodes, self.unit, strict=True)}
        # every channel as the arguments of `add_channel` (name, producer, consumer, emit,
        # take, depth, latency), added at once (`ChannelNetwork.add_channels`)
        channels: list[tuple] = []
        # off-chip ops, in node order; every load gets its data unit
        self.offchip = [v for v, p in enumerate(plans) if p.requests is not None]
        self.data_unit: dict[int, int] = {}
        for v in self.offchip:
            plan = plans[v]
            if not plan.is_load:
                continue
            n = len(plan.cost)
            d = net.add_unit(f"{self.label[v]} data", np.zeros(n), np.zeros(n))
            fresh = np.where(
                plan.requests > 0,
                np.ceil(plan.requests / target.offchip_bw) + target.offchip_latency,
                0.0,
            )
            channels.append(
                (f"{v} hbm", self.unit[v], d, None, None, 0, np.maximum(plan.cost, fresh))
            )
            self.data_unit[v] = d
            self.owner[d] = v
        streams: list[tuple[Port, int]] = []  # each stream's port and its channel's place
        for node in program.nodes:
            for pos, port in enumerate(node.inputs):
                streams.append((port, len(channels)))
                channels += self._stream(port, node.id, pos, depth)
        for v, plan in enumerate(plans):
            fb = plan.feedback  # a channel against program order: the graph has a cycle
            if fb is not None and len(fb.emit):
                name = f"{self.label[fb.source]} -> {self.label[v]}"
                latency = plans[fb.source].cost[fb.emit]
                src, dst = self.unit[fb.source], self.unit[v]
                channels.append((name, src, dst, fb.emit, fb.take, depth, latency))
        ids = net.add_channels(*(list(column) for column in zip(*channels, strict=True)))
        self.channel: dict[Port, int] = {port: ids[at] for port, at in streams}
        self.requests = {v: np.flatnonzero(plans[v].requests > 0) for v in self.offchip}
        sizes = [plans[v].requests[self.requests[v]] for v in self.offchip]
        self.req_size = np.concatenate(sizes) if sizes else np.zeros(0)
        ends = np.cumsum([len(x) for x in sizes], dtype=np.int64)
        # per off-chip op: its requests' place in the HBM's list
        self.slots = {
            v: slice(e - len(x), e) for v, x, e in zip(self.offchip, sizes, ends, strict=True)
        }

    def _stream(self, port: Port, consumer: int, pos: int, depth: int) -> list[tuple]:
        """The channels of the stream `port` to input `pos` of `consumer`, as `add_channel`'s
        arguments: the stream's own first."""
        v = port.node
        emit, take = self.plans[v].prod[port.index], self.plans[consumer].cons[pos]
        name = f"{self.label[v]} -> {self.label[consumer]}"
        w = self.unit[consumer]
        if v in self.data_unit:  # data from the data unit, credit with the load
            return [
                (name, self.data_unit[v], w, emit, take, 0, 0.0),
                (name, self.unit[v], w, emit, take, depth, 0.0),
            ]
        return [(name, self.unit[v], w, emit, take, depth, self.plans[v].cost[emit])]

    def solve(self) -> EventTimes:
        """Fire every step that can fire with the HBM's answers known so far, serve the
        requests no unfired step can precede, release their data, and again (module doc)."""
        run = self.net.resumable()
        for v, d in self.data_unit.items():
            run.hold(d, self.requests[v])
        hbm = self._hbm(run.step_off)
        rounds = 0
        while True:
            rounds += 1
            run.run()
            released = hbm.serve(run.fired, run.start)
            if released is None:
                break
            run.release_steps(*released)
        try:
            timeline = run.timeline()
        except ChannelDeadlock as exc:
            raise ExecutionError(self._deadlock_message(exc)) from None
        return self._event_times(timeline, hbm.back, rounds)

    def _hbm(self, step_off: np.ndarray) -> _Hbm:
        """The HBM with every request in (node, event) order, located in the solver's flat
        steps."""
        unit = np.array([self.unit[v] for v in self.offchip], np.int64)
        local = [self.requests[v] for v in self.offchip]
        n_steps = [len(self.plans[v].cost) for v in self.offchip]
        # per off-chip op and count of its fired steps: how many requests were issued by then
        issued_by = np.concatenate(
            [
                s.start + np.searchsorted(x, np.arange(n + 1))
                for x, s, n in zip(local, self.slots.values(), n_steps, strict=True)
            ]
            or [np.zeros(0, np.int64)]
        ).astype(np.int64)
        at = np.cumsum([0, *(n + 1 for n in n_steps[:-1])], dtype=np.int64)[: len(unit)]
        op = np.repeat(np.arange(len(unit), dtype=np.int64), [len(x) for x in local])
        step = step_off[unit[op]] + np.concatenate(local or [np.zeros(0, np.int64)])
        # a read issues when its event starts, a write when its event ends
        delay = np.concatenate(
            [
                np.zeros(len(self.requests[v]))
                if self.plans[v].is_load
                else self.plans[v].cost[self.requests[v]]
                for v in self.offchip
            ]
            or [np.zeros(0)]
        )
        data_step = np.full(len(step), -1, np.int64)
        for v, d in self.data_unit.items():
            data_step[self.slots[v]] = step_off[d] + self.requests[v]
        first = np.array([s.start for s in self.slots.values()], np.int64)
        service = self.req_size / self.target.offchip_bw
        requests = (op, step.astype(np.int64), delay.astype(np.float64), service, data_step)
        return _Hbm(unit, at, issued_by, first, requests, self.target.offchip_latency)

    def _event_times(self, times: Timeline, back: np.ndarray, rounds: int) -> EventTimes:
        """Per op and per stream, from the solver's timeline; `back` per request."""
        start = [times.start[u] for u in self.unit]
        end = [times.end(u) for u in self.unit]
        arrival = {p: times.arrival(c) for p, c in self.channel.items()}
        stores = [back[self.slots[v]] for v in self.offchip if v not in self.data_unit]
        done = max((float(b.max()) for b in stores if len(b)), default=0.0)
        return EventTimes(start, end, arrival, done, rounds)

    def _deadlock_message(self, exc: ChannelDeadlock) -> str:
        """The solver's cycle of waits in STeP's terms: the op whose channel is full, the
        op that does not take from it, and what that op waits for."""
        names = {self.net.units[u].name: v for u, v in self.owner.items()}
        label = {name: self.program.nodes[v].label() for name, v in names.items()}
        cycle = exc.cycle
        full = [i for i, w in enumerate(cycle) if w.full]
        if not full:
            return f"deadlock: {label[cycle[0].unit]} never finishes"
        i = min(full, key=lambda i: names[cycle[i].unit])
        stuck, then = cycle[i], cycle[(i + 1) % len(cycle)]
        waits = (
            f"waits for input from {label[then.other]}"
            if not then.full
            else f"cannot emit to {label[then.other]} either"
        )
        return (
            f"deadlock: {label[stuck.unit]} cannot emit: its channel to {label[stuck.other]} is "
            f"full ({stuck.depth} items) while that op {waits}; load the data twice instead of "
            f"copying it, bufferize it, or use a target with deeper channels"
        )


class _Hbm:
    """The shared HBM: one FIFO server, size / offchip_bw cycles per request, the data
    usable from the next whole cycle plus `latency`; its rounds run in `hbm_kernel`.

    Per off-chip op (`ops`): its unit, where its row of `issued_by` begins (the row gives,
    per count of the op's fired steps, how many requests it had issued by then) and its
    first request not served yet. Per request, in (node, event) order (`requests`): the
    off-chip op issuing it, its step in the solver's flat numbering, cycles from that
    step's start to the issue, its cycles of service, and the flat step of the load's
    data unit that waits for its data (-1 for a store). `back`: when each request's data
    is back."""

    def __init__(
        self,
        unit: np.ndarray,
        at: np.ndarray,
        issued_by: np.ndarray,
        first: np.ndarray,
        requests: tuple[np.ndarray, ...],
        latency: float,
    ) -> None:
        n = len(requests[0])
        self.ops = (unit, at, issued_by, first)
        self.requests, self.latency = requests, float(latency)
        self.free = np.zeros(1)  # when the server finishes what it was given so far
        self.back = np.zeros(n)
        self.scratch = (np.empty(n, np.int64), np.empty(n))
        self.released = (np.empty(n, np.int64), np.empty(n))
        # a round's work in the plain loop, for `pick`: the ops it scans and the requests
        # it serves (as many as the last round released, a guess)
        self.work = len(unit)

    def serve(self, fired: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """One round (`hbm_kernel.serve_round`) given the solve's fired steps and their
        starts: the held data steps it released and when, or None if no request waits."""
        k = SERVE_ROUND.pick(self.work)(
            fired, start, *self.ops, *self.requests, self.latency, self.free,
            self.back, *self.scratch, *self.released,
        )  # fmt: skip
        if k < 0:
            return None
        self.work = len(self.ops[0]) + k
        steps, times = self.released
        return steps[:k], times[:k]


def solve_event_times(program: Program, plans: list[OpEvents], target: StepTarget) -> EventTimes:
    """Event times of every op of `program` on `target` (its timing parameters, checked)."""
    return OpNetwork(program, plans, target).solve()
