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
released at the time the HBM served request e. The HBM itself is a FIFO over every
request, so it stays outside the solver: solve, serve the requests in order of their
issue times, release the data units at the served times, solve again, until the served
times stop changing. A fixed point is the model's schedule (every constraint above holds
with equality where it binds), the one the event-driven reference reaches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsl.step.ir import Port, Program
from interpreter.core.channels import ChannelDeadlock, ChannelNetwork, Timeline
from interpreter.errors import ExecutionError, SimulationError
from interpreter.step.costs import OpEvents

MAX_HBM_ROUNDS = 1000


@dataclass
class EventTimes:
    """The solved schedule: per op, when each event starts and ends; per stream, when each
    item reaches its consumer; when the last store's data is written; how many solves the
    HBM's fixed point took."""

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

    def __init__(self, program: Program, plans: list[OpEvents], target: dict) -> None:
        self.program, self.plans, self.target = program, plans, target
        depth = int(target["channel_depth"])
        net = self.net = ChannelNetwork()
        self.unit = [
            net.add_unit(n.label(), p.cost) for n, p in zip(program.nodes, plans, strict=True)
        ]
        self.owner = {u: n.id for n, u in zip(program.nodes, self.unit, strict=True)}
        # off-chip ops, in node order; every load gets its data unit
        self.offchip = [v for v, p in enumerate(plans) if p.requests is not None]
        self.data_unit: dict[int, int] = {}
        for v in self.offchip:
            plan = plans[v]
            if not plan.is_load:
                continue
            n = len(plan.cost)
            d = net.add_unit(f"{program.nodes[v].label()} data", np.zeros(n), np.zeros(n))
            fresh = np.where(
                plan.requests > 0,
                np.ceil(plan.requests / target["offchip_bw"]) + target["offchip_latency"],
                0.0,
            )
            net.add_channel(f"{v} hbm", self.unit[v], d, latency=np.maximum(plan.cost, fresh))
            self.data_unit[v] = d
            self.owner[d] = v
        self.channel: dict[Port, int] = {}
        for node in program.nodes:
            for pos, port in enumerate(node.inputs):
                self._stream(port, node.id, pos, depth)
        self.requests = {v: np.flatnonzero(plans[v].requests > 0) for v in self.offchip}
        sizes = [plans[v].requests[self.requests[v]] for v in self.offchip]
        self.req_size = np.concatenate(sizes) if sizes else np.zeros(0)
        ends = np.cumsum([len(x) for x in sizes], dtype=np.int64)
        # per off-chip op: its requests' place in the HBM's list
        self.slots = {
            v: slice(e - len(x), e) for v, x, e in zip(self.offchip, sizes, ends, strict=True)
        }

    def _stream(self, port: Port, consumer: int, pos: int, depth: int) -> None:
        v = port.node
        emit, take = self.plans[v].prod[port.index], self.plans[consumer].cons[pos]
        name = f"{self.program.nodes[v].label()} -> {self.program.nodes[consumer].label()}"
        w = self.unit[consumer]
        if v in self.data_unit:  # data from the data unit, credit with the load
            self.channel[port] = self.net.add_channel(name, self.data_unit[v], w, emit, take)
            self.net.add_channel(name, self.unit[v], w, emit, take, depth=depth)
        else:
            latency = self.plans[v].cost[emit]
            self.channel[port] = self.net.add_channel(
                name, self.unit[v], w, emit, take, depth=depth, latency=latency
            )

    def solve(self) -> EventTimes:
        """Solve, serve the HBM, release the loads' data at the served times, repeat until
        the served times stop changing."""
        for rounds in range(1, MAX_HBM_ROUNDS + 1):
            times = self._solve_once()
            back = self._serve(times)
            moved = False
            for v, d in self.data_unit.items():
                release = self.net.units[d].release
                served = back[self.slots[v]]
                if not np.array_equal(release[self.requests[v]], served):
                    release = release.copy()
                    release[self.requests[v]] = served
                    self.net.set_release(d, release)
                    moved = True
            if not moved:
                return self._event_times(times, back, rounds)
        raise SimulationError(f"the HBM's service did not settle after {MAX_HBM_ROUNDS} rounds")

    def _solve_once(self) -> Timeline:
        try:
            return self.net.solve()
        except ChannelDeadlock as exc:
            raise ExecutionError(self._deadlock_message(exc)) from None

    def _serve(self, times: Timeline) -> np.ndarray:
        """When each request's data is back (loads) or written (stores): the HBM serves
        requests in order of issue (ties: node, then event), size / offchip_bw each."""
        if not self.offchip:
            return np.zeros(0)
        issue = np.concatenate(
            [
                (times.start[u] if self.plans[v].is_load else times.end(u))[self.requests[v]]
                for v, u in ((v, self.unit[v]) for v in self.offchip)
            ]
        )
        order = np.lexsort((np.arange(len(issue)), issue))
        service = self.req_size[order] / self.target["offchip_bw"]
        s = np.cumsum(service)
        done = s + np.maximum(0.0, np.maximum.accumulate(issue[order] - (s - service)))
        back = np.empty_like(done)
        # data is usable from the cycle after the transfer ends: times stay integers
        back[order] = np.ceil(done) + self.target["offchip_latency"]
        return back

    def _event_times(self, times: Timeline, back: np.ndarray, rounds: int) -> EventTimes:
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


def solve_event_times(program: Program, plans: list[OpEvents], target: dict) -> EventTimes:
    """Event times of every op of `program` on `target` (its timing parameters, checked)."""
    return OpNetwork(program, plans, target).solve()
