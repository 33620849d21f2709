"""What a STeP simulation reports: traffic, memory, compute, floors and the bottleneck.

Counted from the plans (the functional pass), apart from the timing pass, except for the
times themselves: `floor_cycles` in particular never looks at the schedule, so a cycle
count below it exposes a simulator bug.
"""

from __future__ import annotations

import numpy as np

from dsl.step.ir import Program
from interpreter.budget import budget_of
from interpreter.report import SimReport
from interpreter.step.budget import (
    COMPUTE,
    COMPUTE_OPS,
    ONCHIP,
    check_onchip,
    peak_flops,
    units_left,
)
from interpreter.step.costs import BOUND_NAMES, ISSUE, OpEvents
from interpreter.step.event_times import EventTimes
from interpreter.step.sim import target_params

TIMELINE_LIMIT = 2000


def floor_cycles(plans: list[OpEvents], target: dict) -> float:
    """Roofline floor at the target's full budget: the program's FLOPs over the whole chip's
    peak (every compute unit), and its off-chip bytes over the HBM's bandwidth. It never
    looks at the `compute=` the program allocated, so asking for more cannot lower it."""
    params = target_params(target)
    offchip = sum(float(p.requests.sum()) for p in plans if p.requests is not None)
    floor = offchip / params["offchip_bw"]
    peak = peak_flops(target, params["flops_per_unit"])
    if peak:
        floor = max(floor, sum(p.flops for p in plans) / peak)
    return floor


def make_report(
    program: Program,
    plans: list[OpEvents],
    times: EventTimes,
    target: dict,
    used: dict[str, float],
) -> SimReport:
    """The report of one timed run; `used` is what the program allocates (`static_use`).
    An on-chip requirement over the budget is a `BudgetError`."""
    onchip = check_onchip(program, [p.onchip_bytes for p in plans], target)
    capacity = budget_of(target).get(ONCHIP, 0.0)  # 0: the target sets no limit
    params = target_params(target)
    cycles_i = int(np.ceil(times.cycles))
    span = max(cycles_i, 1)
    reads = sum(float(p.requests.sum()) for p in plans if p.requests is not None and p.is_load)
    writes = sum(float(p.requests.sum()) for p in plans if p.requests is not None and not p.is_load)
    allocated = used[COMPUTE]
    flops = sum(p.flops for p in plans)
    per_op, timeline = {}, []
    for node, plan in zip(program.nodes, plans, strict=True):
        busy = float(plan.cost.sum())
        label = node.label()
        entry = {
            "busy_cycles": busy,
            "utilization": busy / span,
            "elements": len(plan.cost),
            "flops": plan.flops,
            "onchip_bytes": plan.onchip_bytes,
        }
        if plan.requests is not None:
            entry["offchip_bytes"] = float(plan.requests.sum())
        per_op[label] = entry
        if len(plan.cost) and len(timeline) < TIMELINE_LIMIT:
            timeline.append(
                (label, int(times.start[node.id][0]), int(np.ceil(times.end[node.id][-1])))
            )
    metrics = {
        "offchip_bytes": reads + writes,
        "offchip_read_bytes": reads,
        "offchip_write_bytes": writes,
        "onchip_bytes": onchip,
        "onchip_capacity": capacity,
        "allocated_compute": float(allocated),
        "flops": flops,
        "compute_utilization": flops / (allocated * params["flops_per_unit"] * span)
        if allocated
        else 0.0,
        "hbm_utilization": (reads + writes) / (params["offchip_bw"] * span),
        "stream_elements": float(sum(len(p.cost) for p in plans)),
        "hbm_rounds": float(times.hbm_rounds),
    }
    return SimReport(
        cycles=cycles_i,
        floor_cycles=floor_cycles(plans, target),
        metrics=metrics,
        bottleneck=_bottleneck(program, plans, metrics, span, target, used),
        per_op=per_op,
        timeline=timeline,
        resources={**used, ONCHIP: onchip},
    )


def _bottleneck(
    program: Program,
    plans: list[OpEvents],
    metrics: dict,
    span: int,
    target: dict,
    used: dict[str, float],
) -> str:
    """One or two sentences an agent can act on. Advice stays within the budget: it never
    asks for more compute units than the target has left, nor for compute= on an op that
    could not use it (one bound by handling one element per cycle)."""
    name = target.get("name", "target")
    hbm = metrics["hbm_utilization"]
    busiest = max(range(len(plans)), key=lambda v: float(plans[v].cost.sum()))
    plan, node = plans[busiest], program.nodes[busiest]
    busy = float(plan.cost.sum()) / span
    capacity = metrics["onchip_capacity"]
    onchip = f" On-chip memory: {metrics['onchip_bytes'] / 2**10:.1f} KiB" + (
        f" of {capacity / 2**20:.0f} MiB on {name}." if capacity else "."
    )
    if hbm >= busy:
        return (
            f"Memory-bound: the HBM is busy {hbm:.0%} of {span} cycles moving "
            f"{metrics['offchip_bytes'] / 2**20:.2f} MiB; cut off-chip re-reads (reuse "
            f"tiles on chip with bufferize/streamify, larger tiles).{onchip}"
        )
    counts = (
        np.bincount(plan.bound, weights=plan.cost, minlength=4)
        if plan.bound is not None
        else np.zeros(4)
    )
    bound = int(np.argmax(counts))
    if node.op not in COMPUTE_OPS:
        advice = (
            "feed it fewer, larger elements"
            if bound == ISSUE
            else "it has one 64 B/cycle memory port: move fewer bytes through it"
        )
    elif bound == ISSUE or plan.useful_units <= node.attrs["compute"]:
        advice = (
            "it takes one element per cycle, so more compute= would not help: feed it "
            "fewer, larger elements (larger tiles)"
        )
    else:
        advice = _more_units(node.attrs["compute"], plan.useful_units, used, target)
    return (
        f"{node.label()} is the critical op: busy {busy:.0%} of {span} cycles, bound by "
        f"{BOUND_NAMES[bound]}; {advice}. HBM busy {hbm:.0%}.{onchip}"
    )


def _more_units(have: int, useful: int, used: dict[str, float], target: dict) -> str:
    """Advice to raise an op's compute=, capped by what the target has left."""
    left = units_left(used, target)
    grant = useful if left is None else min(useful, have + int(left))
    if grant <= have:
        total = int(budget_of(target).get(COMPUTE, used[COMPUTE]))
        return (
            f"all {total} compute units (and their memory ports) of the target are allocated: "
            "take units from ops that are rarely busy, or cut this op's work"
        )
    free = "" if left is None else f" ({int(left)} units free on the target)"
    return f"raise its compute= from {have} to {grant}{free}, or use larger tiles"
