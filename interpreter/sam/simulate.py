"""Cycle simulation of a SAM program: functional pass, timing pass, then the report."""

from __future__ import annotations

import numpy as np

from dsl.sam.ir import Program
from interpreter.budget import check_budget
from interpreter.report import SimReport
from interpreter.sam.cycles import GraphTiming, HbmModel, shared_memory_floor, time_graph
from interpreter.sam.execute import GraphRun, load_inputs, run_graphs
from interpreter.sam.fibertree import Fibertree
from interpreter.sam.resources import check_static, full_lanes, lane_factors

COUNTERS = (
    "flops",
    "seg_reads",
    "crd_reads",
    "val_reads",
    "seg_writes",
    "crd_writes",
    "val_writes",
    "intermediate_reads",
    "intermediate_writes",
)

_ADVICE = {
    "scan": "it emits one coordinate per cycle: a compressed level instead of a dense one,"
    " a locate instead of a scan, or fork/join lanes over this level cut its steps",
    "repeat": "it re-emits a reference once per inner coordinate: another dataflow order"
    " (repeated operand outer) or fork/join lanes shorten it",
    "intersect": "it steps once per distinct coordinate of any input: locate into the denser"
    " operand instead of co-iterating it",
    "union": "it steps once per distinct coordinate of any input; fork/join lanes split it",
    "spacc": "it takes one token per cycle and flushes one entry per cycle: a dataflow order"
    " that reduces with `reduce` instead, or lanes, shorten it",
    "locate": "it looks up one coordinate per cycle; fork/join lanes split it",
}


def hbm_model(target: dict) -> HbmModel | None:
    cfg = target.get("hbm", {})
    if not cfg.get("enabled", False):
        return None
    return HbmModel(**{k: int(v) for k, v in cfg.items() if k != "enabled"})


def _label(run: GraphRun, node_id: int) -> str:
    node = next(n for n in run.graph.nodes if n.id == node_id)
    where = f" on {node.attrs['tensor']!r}" if "tensor" in node.attrs else ""
    return f"node {node.id} ({node.op}{where})"


def _bottleneck(
    runs: list[GraphRun], timings: list[GraphTiming], total: int, hbm: HbmModel | None
) -> str:
    g = int(np.argmax([t.cycles for t in timings]))
    run, timing = runs[g], timings[g]
    if hbm is not None:
        words = sum(len(r.plan.memory) for r in run.results.values() if r.plan.memory is not None)
        memory_floor = shared_memory_floor(run, hbm)
        if memory_floor >= 0.5 * timing.cycles:
            return (
                f"memory-bound: graph {run.graph.name!r} moves {words:,} words over"
                f" {hbm.channels} HBM channels (at least {memory_floor:,.0f} of its"
                f" {timing.cycles:,} cycles); compressed levels, fewer repeated loads or"
                " fused intermediates cut the traffic."
            )
    busy = {n.id: run.results[n.id].plan.steps * timing.costs[n.id].ii for n in run.graph.nodes}
    top = max(busy, key=busy.get)  # type: ignore[arg-type]
    share = busy[top] / max(timing.cycles, 1)
    prefix = ""
    if len(runs) > 1:
        prefix = (
            f"graph {run.graph.name!r} takes {timing.cycles:,} of the {total:,} cycles"
            f" of {len(runs)} graphs; "
        )
    node = next(n for n in run.graph.nodes if n.id == top)
    if share >= 0.5:
        advice = _ADVICE.get(node.op, "fork/join lanes over its level split the work")
        return (
            f"{prefix}{_label(run, top)} is busy {busy[top]:,} of {timing.cycles:,} cycles"
            f" ({share:.0%}); {advice}."
        )
    return (
        f"{prefix}latency-bound: the busiest primitive, {_label(run, top)}, works only"
        f" {share:.0%} of {timing.cycles:,} cycles; long chains of dependent tokens"
        " (repeat, reduce, accumulators) set the pace, so overlap them or cut levels."
    )


def simulate(
    program: Program, inputs: dict[str, np.ndarray], dims: dict[str, int], target: dict
) -> SimReport:
    return simulate_trees(program, load_inputs(program, inputs, dims), dims, target)


def simulate_trees(
    program: Program, tensors: dict[str, Fibertree], dims: dict[str, int], target: dict
) -> SimReport:
    """Simulate with the inputs already in storage form (what a simulator loop times)."""
    resources = check_static(program, target)
    hbm = hbm_model(target)
    runs = run_graphs(program, dict(tensors), dims, memory_steps=hbm is not None)
    fifo_depth = int(target.get("fifo_depth", 0))
    timings = [time_graph(run, fifo_depth, hbm) for run in runs]
    resources["fifo_depth"] = float(max((t.fifo_depth for t in timings), default=0))
    check_budget(target, resources)
    lanes = max(full_lanes(target), resources["lanes"])  # a target may leave lanes unbounded
    total = sum(t.cycles for t in timings)
    counts = dict.fromkeys(COUNTERS, 0)
    floor = 0.0
    per_op: dict[str, dict[str, float]] = {}
    timeline: list[tuple[str, int, int]] = []
    offset = 0
    tokens = 0
    for run, timing in zip(runs, timings, strict=True):
        for key, value in run.counts.items():
            counts[key] = counts.get(key, 0) + value
        # A primitive's steps bound its graph's cycles. At the target's full budget its work
        # could be spread over every lane, so the floor divides the work of all its lane
        # copies by the chip's lanes: the program's own parallel factor cannot lower it.
        node_floor = 0.0
        factors = lane_factors(run.graph)
        for node in run.graph.nodes:
            result = run.results[node.id]
            s = result.plan
            ii = timing.costs[node.id].ii
            busy = s.steps * ii
            serial = (s.steps - 1) * ii + 1 if s.steps else 0
            node_floor = max(node_floor, serial * factors[node.id] / lanes)
            tokens += sum(len(o.ctl) for o in result.outputs)
            t = timing.times[node.id]
            first, last = (int(t[0]), int(t[-1]) + 1) if len(t) else (0, 0)
            key = f"{run.graph.name}/{node.id}:{node.op}"
            per_op[key] = {
                "busy": float(busy),
                "steps": float(s.steps),
                "utilization": busy / max(timing.cycles, 1),
                "start": float(offset + first),
                "end": float(offset + last),
            }
            timeline.append((key, offset + first, offset + last))
        graph_floor = node_floor
        if hbm is not None:
            graph_floor = max(graph_floor, float(shared_memory_floor(run, hbm)))
        floor += graph_floor
        offset += timing.cycles
    metrics = {
        "cycles": float(total),
        "graphs": float(len(runs)),
        "tokens": float(tokens),
        "fifo_depth": float(fifo_depth),
        "hbm": float(hbm is not None),
    }
    metrics.update({k: float(v) for k, v in counts.items()})
    metrics["memory_words"] = float(sum(counts[k] for k in COUNTERS[1:7]))
    return SimReport(
        cycles=int(total),
        floor_cycles=floor,
        metrics=metrics,
        bottleneck=_bottleneck(runs, timings, total, hbm),
        per_op=per_op,
        timeline=timeline,
        resources=resources,
    )
