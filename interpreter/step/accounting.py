"""What a STeP simulation reports: traffic, memory, compute, floors and the bottleneck.

Counted from the plans (the functional pass), apart from the timing pass, except for the
times themselves: `floor_cycles` in particular never looks at the schedule, so a cycle
count below it exposes a simulator bug.
"""

from __future__ import annotations

import numpy as np

from dsl.step.ir import Program
from interpreter.errors import ExecutionError
from interpreter.report import SimReport
from interpreter.step.sim import Schedule
from interpreter.step.timing import BOUND_NAMES, COMPUTE, Plan

COMPUTE_OPS = ("map", "accum", "scan", "flat_map")
TIMELINE_LIMIT = 2000


def onchip_requirement(program: Program, plans: list[Plan], capacity: float) -> float:
    """Total on-chip bytes (paper's accounting); over `capacity` is an ExecutionError."""
    total = float(sum(p.onchip_bytes for p in plans))
    if total > capacity:
        worst = max(range(len(plans)), key=lambda v: plans[v].onchip_bytes)
        raise ExecutionError(
            f"on-chip memory: the program needs {total / 2**20:.2f} MiB but the target has "
            f"{capacity / 2**20:.2f} MiB; the largest user is "
            f"{program.nodes[worst].label()} with {plans[worst].onchip_bytes / 2**20:.2f} MiB"
        )
    return total


def floor_cycles(program: Program, plans: list[Plan], target: dict) -> float:
    """Roofline floor: HBM bytes over bandwidth, every op's FLOPs over its compute and its
    element count (one element per cycle)."""
    offchip = sum(float(p.requests.sum()) for p in plans if p.requests is not None)
    floor = offchip / target["offchip_bw"]
    for node, plan in zip(program.nodes, plans, strict=True):
        floor = max(floor, float(len(plan.cost)))
        if node.op in COMPUTE_OPS and plan.flops:
            floor = max(floor, plan.flops / (target["flops_per_unit"] * node.attrs["compute"]))
    return floor


def make_report(
    program: Program,
    plans: list[Plan],
    sched: Schedule,
    cycles: float,
    target: dict,
    target_name: str,
) -> SimReport:
    capacity = float(target["onchip_capacity"])
    onchip = onchip_requirement(program, plans, capacity)
    cycles_i = int(np.ceil(cycles))
    span = max(cycles_i, 1)
    reads = sum(float(p.requests.sum()) for p in plans if p.requests is not None and p.is_load)
    writes = sum(float(p.requests.sum()) for p in plans if p.requests is not None and not p.is_load)
    allocated = sum(n.attrs["compute"] for n in program.nodes if n.op in COMPUTE_OPS)
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
                (label, int(sched.start[node.id][0]), int(np.ceil(sched.end[node.id][-1])))
            )
    metrics = {
        "offchip_bytes": reads + writes,
        "offchip_read_bytes": reads,
        "offchip_write_bytes": writes,
        "onchip_bytes": onchip,
        "onchip_capacity": capacity,
        "allocated_compute": float(allocated),
        "flops": flops,
        "compute_utilization": flops / (allocated * target["flops_per_unit"] * span)
        if allocated
        else 0.0,
        "hbm_utilization": (reads + writes) / (target["offchip_bw"] * span),
        "stream_elements": float(sum(len(p.cost) for p in plans)),
        "sweeps": float(sched.sweeps),
    }
    return SimReport(
        cycles=cycles_i,
        floor_cycles=floor_cycles(program, plans, target),
        metrics=metrics,
        bottleneck=_bottleneck(program, plans, metrics, span, target_name),
        per_op=per_op,
        timeline=timeline,
    )


def _bottleneck(
    program: Program, plans: list[Plan], metrics: dict, span: int, target_name: str
) -> str:
    hbm = metrics["hbm_utilization"]
    busiest = max(range(len(plans)), key=lambda v: float(plans[v].cost.sum()))
    plan, node = plans[busiest], program.nodes[busiest]
    busy = float(plan.cost.sum()) / span
    onchip = (
        f" On-chip memory: {metrics['onchip_bytes'] / 2**10:.1f} KiB of "
        f"{metrics['onchip_capacity'] / 2**20:.0f} MiB on {target_name}."
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
    kind = BOUND_NAMES[int(np.argmax(counts))]
    advice = (
        "raise its compute= or use larger tiles"
        if int(np.argmax(counts)) == COMPUTE
        else "raise its compute= (more memory ports) or split its work"
        if node.op in COMPUTE_OPS
        else "feed it fewer, larger elements"
    )
    return (
        f"{node.label()} is the critical op: busy {busy:.0%} of {span} cycles, bound by "
        f"{kind}; {advice}. HBM busy {hbm:.0%}.{onchip}"
    )
