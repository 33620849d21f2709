"""The STeP cycle simulator: functional pass, per-op event costs, event times, report.

`simulate` runs the program on real inputs (`run.py`), turns every op's streams into its
events (`costs.py`), times them (`event_times.py`) and reports (`accounting.py`). What an
eager_merge emits depends on when its inputs arrive, so with eager_merges the three
passes repeat until the arrival order stops changing. The verifier times the run it has
just checked: `execute` returns it (`CheckedRun`), and `simulate` times that rather than
running the program again (an arrival-ordered run comes already timed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dsl.step.gc_pause import paused_gc
from dsl.step.ir import Port, Program
from interpreter.core.targets import StepTarget, typed
from interpreter.report import SimReport
from interpreter.step.budget import check_static
from interpreter.step.costs import COSTS, CostEnv, OpEvents
from interpreter.step.dispatch import MAX_DISPATCH_ROUNDS, has_dispatch, signal_times
from interpreter.step.event_times import EventTimes, solve_event_times
from interpreter.step.facts import Merged
from interpreter.step.onchip import held_bytes
from interpreter.step.run import Declared, run_functional
from interpreter.step.semantics import RunContext
from interpreter.step.streams import StreamData

DEFAULT_TARGET = {
    "onchip_bw": 64,
    "flops_per_unit": 512,
    "offchip_bw": 1024,
    "offchip_latency": 20,
    "channel_depth": 8,
}
MAX_MERGE_ROUNDS = 8


def target_params(target: Mapping[str, Any] | StepTarget) -> StepTarget:
    """The target as the timing passes read it: the checked dataclass of
    `interpreter.core.targets`, STeP's defaults filled in for missing keys (tests and
    `execute` hand over partial tables). A bad value or an unknown key is a `TargetError`
    naming the target and the key. Its budget (`[budget]`) is read by `budget.py`."""
    if isinstance(target, StepTarget):
        return target
    return typed({**DEFAULT_TARGET, **target}, dialect="step")  # type: ignore[return-value]


def op_events(
    program: Program,
    ctx: RunContext,
    streams: dict[Port, StreamData],
    target: StepTarget,
    declared: Declared | None = None,
) -> list[OpEvents]:
    """Every op's events, from its streams and what the functional pass recorded.
    `declared`, the program's `run.Declared`, spares making every output's port again."""
    plans = []
    ports = (
        declared.ports
        if declared is not None and declared.of(program)
        else [n.ports() for n in program.nodes]
    )
    for node, out_ports in zip(program.nodes, ports, strict=True):
        ins = [streams[p] for p in node.inputs]
        outs = [streams[p] for p in out_ports]
        in_types = [program.nodes[p.node].outputs[p.index] for p in node.inputs]
        env = CostEnv(node, ins, outs, in_types, target, ctx.facts.get(node.id))
        plan = COSTS[node.op](env)
        plan.onchip_bytes = held_bytes(env)  # what it holds on chip: onchip.py
        plans.append(plan)
    return plans


def merge_arrivals(program: Program, ctx: RunContext, times: EventTimes) -> dict[int, np.ndarray]:
    """For every op that merges chunks as they come (eager_merge: its fact is `Merged`),
    its chunk order by arrival of each chunk's first item."""
    orders = {}
    for node in program.nodes:
        fact = ctx.facts.get(node.id)
        if not isinstance(fact, Merged):
            continue
        chunked = fact.chunk_items
        keys = []
        for i, (p, (items, _)) in enumerate(zip(node.inputs, chunked, strict=True)):
            avail = times.arrival[p]
            for c, (first, _) in enumerate(items):
                keys.append((float(avail[first]) if len(avail) else 0.0, c, i))
        keys.sort(key=lambda k: (k[0], k[2], k[1]))
        orders[node.id] = np.array([i for _, _, i in keys], dtype=np.int64)
    return orders


def arrival_ordered(program: Program) -> bool:
    """Whether what the program computes depends on when items arrive (an eager_merge's
    output order, a dispatch's routing): then a functional run needs the timing pass."""
    return any(n.op in ("eager_merge", "dispatch") for n in program.nodes)


@dataclass(frozen=True)
class CheckedRun:
    """A run `execute` checked (`backend.StepBackend.execute`), for `simulate` to time
    rather than run again: its functional pass (every stream kept) and, for a program
    whose run needed the timing pass (`arrival_ordered`), that pass's events and times on
    `target`."""

    target: StepTarget
    ctx: RunContext
    streams: dict[Port, StreamData]
    plans: list[OpEvents] | None = None
    times: EventTimes | None = None


def run_timed(
    program: Program,
    inputs: dict[str, np.ndarray],
    dims: dict[str, int],
    target: Mapping[str, Any] | StepTarget,
    checked: CheckedRun | None = None,
    declared: Declared | None = None,
) -> tuple[RunContext, dict[Port, StreamData], list[OpEvents], EventTimes]:
    """Functional pass + event times, repeated while eager_merge arrival orders change.
    `checked`, a run of a program that does not depend on arrival order
    (`arrival_ordered`) on these inputs and dims, is the functional pass; `declared` is
    the program's `run.Declared`, if the caller has it."""
    params = target_params(target)
    if checked is not None:
        assert not arrival_ordered(program), "an arrival-ordered run is timed by execute"
        plans = op_events(program, checked.ctx, checked.streams, params, declared)
        return checked.ctx, checked.streams, plans, solve_event_times(program, plans, params)
    orders: dict[int, np.ndarray] | None = None
    if declared is None or not declared.of(program):
        declared = Declared(program)
    for _ in range(MAX_MERGE_ROUNDS if not has_dispatch(program) else MAX_DISPATCH_ROUNDS):
        ctx, streams = run_functional(program, inputs, dims, orders, True, declared)
        plans = op_events(program, ctx, streams, params, declared)
        times = solve_event_times(program, plans, params)
        new = merge_arrivals(program, ctx, times)
        new.update(signal_times(program, ctx, times))  # dispatch's feedback loops
        if not new or (orders is not None and all(np.array_equal(new[k], orders[k]) for k in new)):
            break
        orders = new
    return ctx, streams, plans, times


@paused_gc()
def simulate(
    program: Program,
    inputs: dict[str, np.ndarray],
    dims: dict[str, int],
    target: dict,
    checked: CheckedRun | None = None,
    declared: Declared | None = None,
) -> SimReport:
    """The report of one run. `checked`, what `execute` returned on these very inputs and
    dims, stands in for the functional pass, and for the whole timing when it was timed
    on this target already; `declared` is the program's `run.Declared`, if the caller has
    it."""
    from interpreter.step.accounting import make_report

    used = check_static(program, target)
    params = target_params(target)
    if checked is not None and checked.times is not None and checked.target == params:
        plans, times = checked.plans, checked.times
    else:
        reuse = checked if checked is not None and checked.times is None else None
        _, _, plans, times = run_timed(program, inputs, dims, params, reuse, declared)
    return make_report(program, plans, times, target, used)
