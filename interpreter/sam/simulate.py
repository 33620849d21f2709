"""Cycle simulation of a SAM program: functional pass, timing pass, then the report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dsl.sam.ir import Program
from interpreter.budget import check_budget
from interpreter.core.targets import SamTarget, typed
from interpreter.report import SimReport
from interpreter.sam import advice
from interpreter.sam.counts import COUNTERS, READ_COUNTERS, WRITE_COUNTERS, count_graph, graph_floor
from interpreter.sam.critical_path import critical_path
from interpreter.sam.cycles import HbmModel, time_graph
from interpreter.sam.execute import CheckedRun, GraphRun, load_inputs, run_graphs
from interpreter.sam.fibertree import Fibertree
from interpreter.sam.resources import check_static, full_lanes


def sam_target(target: Mapping[str, Any]) -> SamTarget:
    """The checked, typed form of a SAM target (an empty table: Comal's defaults)."""
    return typed(target, dialect="sam")  # type: ignore[return-value]


def hbm_model(target: Mapping[str, Any]) -> HbmModel | None:
    return _hbm(sam_target(target))


def _hbm(target: SamTarget) -> HbmModel | None:
    hbm = target.hbm
    return HbmModel(hbm.channels, hbm.latency, hbm.ii, hbm.startup) if hbm.enabled else None


def memory_steps(target: Mapping[str, Any]) -> bool:
    """Whether runs timed on `target` need their memory steps (only its memory model reads
    them): what `execute` builds for a run that its simulation may reuse."""
    return sam_target(target).hbm.enabled


def simulate(
    program: Program,
    inputs: Mapping[str, Any],
    dims: dict[str, int],
    target: dict,
    checked: CheckedRun | None = None,
) -> SimReport:
    """Simulate on inputs given dense or sparse (scipy.sparse or `inputs.Coords`).
    `checked`, what `execute` returned for this program on these very inputs and dims,
    spares running them again when its runs suit the target (`CheckedRun.reusable`)."""
    if checked is not None:
        resources = check_static(program, target)
        typed_target = sam_target(target)
        if checked.reusable(program, dims, typed_target.hbm.enabled):
            return _report(program, checked.runs, target, typed_target, resources)
    return simulate_trees(program, load_inputs(program, inputs, dims), dims, target)


def simulate_trees(
    program: Program, tensors: dict[str, Fibertree], dims: dict[str, int], target: dict
) -> SimReport:
    """Simulate with the inputs already in storage form (what a simulator loop times)."""
    resources = check_static(program, target)  # before running: none over budget runs
    typed_target = sam_target(target)  # (checked once: a few hundred microseconds)
    memory = typed_target.hbm.enabled
    runs = run_graphs(program, dict(tensors), dims, memory_steps=memory)
    return _report(program, runs, target, typed_target, resources)


def _report(
    program: Program,
    runs: list[GraphRun],
    target: dict,
    typed_target: SamTarget,
    resources: dict[str, float],
) -> SimReport:
    """Time the graph runs on `target` (`typed_target` its typed form, `resources` the
    program's `check_static` figures) and report."""
    hbm = _hbm(typed_target)
    fifo_depth = typed_target.fifo_depth
    timings = [time_graph(run, fifo_depth, hbm) for run in runs]
    resources["fifo_depth"] = float(max((t.fifo_depth for t in timings), default=0))
    check_budget(target, resources)
    lanes = max(full_lanes(target), resources["lanes"])  # a target may leave lanes unbounded
    path = critical_path(runs, timings, hbm, fifo_depth)
    on_path = path.by_node()
    total = sum(t.cycles for t in timings)
    counts = dict.fromkeys(COUNTERS, 0)
    floor = 0.0
    per_op: dict[str, dict[str, float]] = {}
    timeline: list[tuple[str, int, int]] = []
    offset = 0
    tokens = 0
    for g, (run, timing) in enumerate(zip(runs, timings, strict=True)):
        graph_counts = count_graph(run, program.tensors)
        for key, value in graph_counts.total.items():
            counts[key] += value
        floor += graph_floor(run.graph, graph_counts, timing.costs, lanes, hbm)
        for node in run.graph.nodes:
            result = run.results[node.id]
            s = result.plan
            ii = timing.costs[node.id].ii
            busy = s.steps * ii
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
                "critical_cycles": on_path.get((g, node.id), 0.0),
            }
            timeline.append((key, offset + first, offset + last))
        offset += timing.cycles
    metrics = {
        "cycles": float(total),
        "graphs": float(len(runs)),
        "tokens": float(tokens),
        "fifo_depth": float(fifo_depth),
        "hbm": float(hbm is not None),
    }
    metrics.update({k: float(v) for k, v in counts.items()})
    metrics["memory_words"] = float(sum(counts[k] for k in READ_COUNTERS + WRITE_COUNTERS))
    return SimReport(
        cycles=int(total),
        floor_cycles=floor,
        metrics=metrics,
        bottleneck=advice.sentence(path, runs, timings, full_lanes(target)),
        per_op=per_op,
        timeline=timeline,
        resources=resources,
    )
