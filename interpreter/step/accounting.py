"""What a STeP simulation reports: traffic, memory, compute, floors and the bottleneck.

Counted from the plans (the functional pass), apart from the timing pass, except for the
times themselves: `floor_cycles` in particular never looks at the schedule, so a cycle
count below it exposes a simulator bug.
"""

from __future__ import annotations

import numpy as np

from dsl.step.ir import Node, Program
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
from interpreter.step.costs import OpEvents
from interpreter.step.critical_path import (
    HBM,
    LATENCY,
    ONE_PER_CYCLE,
    CriticalPath,
    critical_path,
    free_region_sentence,
)
from interpreter.step.event_times import EventTimes
from interpreter.step.onchip import requirement
from interpreter.step.sim import target_params

TIMELINE_LIMIT = 2000


def floor_cycles(plans: list[OpEvents], target: dict) -> float:
    """Roofline floor at the target's full budget: the program's FLOPs over the whole chip's
    peak (every compute unit), and its off-chip bytes over the HBM's bandwidth. It never
    looks at the `compute=` the program allocated, so asking for more cannot lower it."""
    params = target_params(target)
    offchip = sum(float(p.requests.sum()) for p in plans if p.requests is not None)
    floor = offchip / params.offchip_bw
    peak = peak_flops(target, params.flops_per_unit)
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
    An on-chip requirement over the budget is a `BudgetError`. The requirement reserves
    statically sized buffers whether or not their op runs (`onchip.py`);
    `onchip_on_demand_bytes` is what the same buffers need when every one is allocated on
    demand (the accounting of the paper's first version, arXiv v1)."""
    held = [p.onchip_bytes for p in plans]
    per_node = requirement(program, held)
    onchip = check_onchip(program, per_node, target)
    capacity = budget_of(target).get(ONCHIP, 0.0)  # 0: the target sets no limit
    params = target_params(target)
    cycles_i = int(np.ceil(times.cycles))
    span = max(cycles_i, 1)
    reads = sum(float(p.requests.sum()) for p in plans if p.requests is not None and p.is_load)
    writes = sum(float(p.requests.sum()) for p in plans if p.requests is not None and not p.is_load)
    allocated = used[COMPUTE]
    flops = sum(p.flops for p in plans)
    path = critical_path(program, plans, times, params)
    on_path: dict[int, float] = {}
    for (v, _), c in path.share.items():
        on_path[v] = on_path.get(v, 0.0) + c
    per_op, timeline = {}, []
    for node, plan, memory, built in zip(program.nodes, plans, per_node, held, strict=True):
        busy = float(plan.cost.sum())
        label = node.label()
        entry = {
            "busy_cycles": busy,
            "utilization": busy / span,
            "elements": len(plan.cost),
            "flops": plan.flops,
            "onchip_bytes": memory,
            "onchip_on_demand_bytes": built,
            "critical_cycles": on_path.get(node.id, 0.0),
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
        "onchip_on_demand_bytes": float(sum(held)),
        "onchip_capacity": capacity,
        "allocated_compute": float(allocated),
        "flops": flops,
        "compute_utilization": flops / (allocated * params.flops_per_unit * span)
        if allocated
        else 0.0,
        "hbm_utilization": (reads + writes) / (params.offchip_bw * span),
        "stream_elements": float(sum(len(p.cost) for p in plans)),
        "hbm_rounds": float(times.hbm_rounds),
    }
    return SimReport(
        cycles=cycles_i,
        floor_cycles=floor_cycles(plans, target),
        metrics=metrics,
        bottleneck=_bottleneck(program, path, plans, metrics, span, target, used),
        per_op=per_op,
        timeline=timeline,
        resources={**used, ONCHIP: onchip},
    )


def _bottleneck(
    program: Program,
    path: CriticalPath,
    plans: list[OpEvents],
    metrics: dict,
    span: int,
    target: dict,
    used: dict[str, float],
) -> str:
    """Two or three sentences an agent can act on: the resource most of the critical path
    waits for, the op (and source line) that spends it, a change that can shorten it, and
    the path's largest parts. Advice stays within the budget: it never asks for more
    compute units than the target has left, nor for compute= on an op that could not use
    them."""
    name = target.get("name", "target")
    capacity = metrics["onchip_capacity"]
    onchip = f" On-chip memory: {metrics['onchip_bytes'] / 2**10:.1f} KiB" + (
        f" of {capacity / 2**20:.0f} MiB on {name}." if capacity else "."
    )
    hbm = metrics["hbm_utilization"]
    totals = path.by_resource()
    if not totals:
        return f"No op waits on another; HBM busy {hbm:.0%}.{onchip}"
    resource = max(totals, key=lambda r: (totals[r], r))
    v = path.top(resource)
    node, plan = program.nodes[v], plans[v]
    head = (
        f"Critical path: {totals[resource] / span:.0%} of {span} cycles wait for {resource}, "
        f"most in {node.label()}"
    )
    advice = _advice(program, resource, node, plan, hbm, metrics, used, target)
    waits = free_region_sentence(program, plans, path, span)
    return f"{head}; {advice}. {waits}{_excerpt(program, path, span)} HBM busy {hbm:.0%}.{onchip}"


def _advice(
    program: Program,
    resource: str,
    node: Node,
    plan: OpEvents,
    hbm: float,
    metrics: dict,
    used: dict[str, float],
    target: dict,
) -> str:
    """A change that can shorten the critical path's time on `resource` at `node`."""
    fewer = f"{len(plan.cost)} elements; feed it fewer, larger ones (larger tiles)"
    if resource == HBM:
        if hbm >= 0.5:
            return (
                f"the HBM moves {metrics['offchip_bytes'] / 2**20:.2f} MiB: cut off-chip "
                "re-reads (reuse tiles on chip with bufferize/streamify; no stride-0 reloads)"
            )
        return (
            "the HBM itself is mostly idle: the path waits for single transfers one at a "
            "time; smaller tiles overlap the transfers with the work that follows"
        )
    if resource == LATENCY:
        return (
            "a latency chain: each round trip to the HBM pays its fixed latency in turn; "
            "make fewer, larger requests (larger tiles), and do not make an address depend "
            "on data just loaded"
        )
    if resource == ONE_PER_CYCLE:
        more = " (more compute= would not help)" if node.op in COMPUTE_OPS else ""
        return f"it handles one element per cycle{more}: {fewer}"
    if node.op not in COMPUTE_OPS:  # bufferize / streamify: one 64 B/cycle port
        return "it has one 64 B/cycle memory port: move fewer bytes through it"
    have = node.attrs["compute"]
    if plan.useful_units <= have:
        return f"it already has all the compute units it can use ({have}): {fewer}"
    ports = " (each unit brings a 64 B/cycle port)" if resource != "compute" else ""
    copies = sum(n.op == node.op and n.line == node.line for n in program.nodes) if node.line else 1
    return _more_units(have, plan.useful_units, copies, used, target) + ports


def _excerpt(program: Program, path: CriticalPath, span: int, parts: int = 4) -> str:
    """The critical path's largest parts, in the order the path meets them, as one
    sentence."""
    largest = sorted(path.share, key=lambda k: -path.share[k])[:parts]
    met = {(v, res): i for i, (v, res, _) in reversed(list(enumerate(path.hops)))}
    shown = [
        f"{program.nodes[v].label()} {res} {path.share[(v, res)] / span:.0%}"
        for v, res in sorted(largest, key=met.__getitem__)
    ]
    stalls = sum(path.stalls.values())
    crossed = f"; it crosses {stalls} full channel(s)" if stalls else ""
    return f"Largest parts of the path, in order: {' -> '.join(shown)}{crossed}."


def _more_units(have: int, useful: int, copies: int, used: dict[str, float], target: dict) -> str:
    """Advice to raise an op's compute=, capped by what the target has left; `copies` ops
    are built by the same source line (a loop), and an edit of it raises them all."""
    left = units_left(used, target)
    grant = useful if left is None else min(useful, have + int(left) // copies)
    if grant <= have:
        total = int(budget_of(target).get(COMPUTE, used[COMPUTE]))
        return (
            f"all {total} compute units (and their memory ports) of the target are allocated: "
            "take units from ops that are rarely busy, or cut this op's work"
        )
    free = ""
    if left is not None:
        shared = f", shared by the {copies} ops this line builds" if copies > 1 else ""
        free = f" ({int(left)} units free on the target{shared})"
    return f"raise its compute= from {have} to {grant}{free}"
