"""The SAM critical path and the advice built from it: a graph walked by hand, the path
covering every cycle (bounded FIFOs, HBM, random matrices), and advice that names only a
change able to help the resource it found."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import sam
from interpreter.sam import BACKEND
from interpreter.sam.advice import lane_region
from interpreter.sam.critical_path import FULL, HBM, LATENCY, STEPS, critical_path
from interpreter.sam.cycles import time_graph
from interpreter.sam.execute import run_program
from interpreter.sam.simulate import hbm_model, simulate
from interpreter.targets import load_target
from tests.interpreter.sam import programs as P

COMAL = load_target("sam_comal")
HBM_TARGET = load_target("sam_comal_hbm")


def program_of(kernel, sig):
    return BACKEND.load(sam.trace(kernel, sig))


def path_of(program, inputs, target, depth=0):
    _, runs = run_program(program, inputs, {})
    hbm = hbm_model(target)
    timings = [time_graph(run, depth, hbm) for run in runs]
    return critical_path(runs, timings, hbm, depth), runs, timings


def ids_by_op(run) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for node in run.graph.nodes:
        out.setdefault(node.op, []).append(node.id)
    return out


def test_dense_copy_by_hand():
    """Steps start root 0, scan 1, load 2, writers 3 (test_timing's hand count): the value
    writer runs back to back from 3 to 7 and ends at 8 (5 cycles of its own steps); before
    that each of load, scan and root held it one cycle of latency."""
    sig = P.signature([("c", [3], "dense")], [("y", [3])])
    path, runs, _ = path_of(program_of(P.copy_vector, sig), {"c": np.array([1.0, 0, 2])}, COMAL)
    ops = ids_by_op(runs[0])
    assert path.cycles == 8
    assert path.share == {
        (0, ops["write_vals"][0], STEPS): 5,
        (0, ops["load"][0], LATENCY): 1,
        (0, ops["scan"][0], LATENCY): 1,
        (0, ops["root"][0], LATENCY): 1,
    }


def _spmv_inputs(n: int, density: float, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    b = rng.normal(size=(n, n)) * (rng.random((n, n)) < density)
    return {"B": b, "c": rng.normal(size=n)}


SPMV_SIG = P.signature([("B", [24, 24], "csr"), ("c", [24], "dense")], [("y", [24])])


@settings(max_examples=20, deadline=None)
@given(
    density=st.floats(0.02, 0.9),
    seed=st.integers(0, 2**16),
    depth=st.sampled_from([0, 1, 2, 4]),
    memory=st.booleans(),
)
def test_the_path_covers_every_cycle(density, seed, depth, memory):
    """Each cycle of the run is charged once, to a non-negative part, whatever the FIFO
    depth or memory model: the walk never skips a wait nor counts one twice."""
    target = HBM_TARGET if memory else COMAL
    program = program_of(P.spmv_rows, SPMV_SIG)
    path, _, timings = path_of(program, _spmv_inputs(24, density, seed), target, depth)
    assert path.cycles == sum(t.cycles for t in timings)
    assert sum(path.share.values()) == path.cycles
    assert min(path.share.values()) > 0


def test_full_fifos_appear_as_stalls_on_the_path():
    """With one-token FIFOs the scanner of a dense-ish matrix outruns the reducer chain:
    the path crosses full FIFOs, and the report puts their cycles under "full FIFO"."""
    program = program_of(P.spmv_rows, SPMV_SIG)
    path, _, _ = path_of(program, _spmv_inputs(24, 0.6, 3), COMAL, depth=1)
    assert path.stalls and path.by_resource().get(FULL, 0) > 0


def test_hbm_bandwidth_bound_graph_is_charged_to_the_channels():
    """A dense copy on a one-channel HBM with a slow II: the graph's words on the shared
    channel outlast every step, so the whole graph is HBM bandwidth."""
    target = dict(HBM_TARGET, hbm=dict(HBM_TARGET["hbm"], channels=1, ii=8))
    sig = P.signature([("c", [64], "dense")], [("y", [64])])
    report = simulate(program_of(P.copy_vector, sig), {"c": np.ones(64)}, {}, target)
    assert f"wait for {HBM}" in report.bottleneck
    assert "only fewer words help" in report.bottleneck


def test_advice_on_spmv_names_the_reducer_and_lanes():
    report = simulate(program_of(P.spmv_rows, SPMV_SIG), _spmv_inputs(24, 0.3, 1), {}, COMAL)
    assert report.bottleneck.startswith("Critical path: ")
    assert "`sam.reduce(...)`" in report.bottleneck
    assert "over 2 fork/join lanes" in report.bottleneck
    on_path = {k: v["critical_cycles"] for k, v in report.per_op.items()}
    assert sum(on_path.values()) == report.cycles


def test_lanes_double_until_the_budget_is_spent():
    inputs = _spmv_inputs(24, 0.6, 1)
    two = program_of(P.spmv_parallel, dict(SPMV_SIG, params={"lanes": 2}))
    report = simulate(two, inputs, {}, COMAL)
    assert "`sam.reduce(...)`" in report.bottleneck
    assert "over 4 fork/join lanes instead of 2" in report.bottleneck
    spent = dict(COMAL, budget=dict(COMAL["budget"], lanes=2))
    report = simulate(two, inputs, {}, spent)
    assert "lanes budget is spent" in report.bottleneck
    assert "fork/join lanes" not in report.bottleneck


def test_a_writer_on_the_path_gets_no_lanes():
    """The copy's value writer is outside any lane: only fewer written tokens help it."""
    sig = P.signature([("c", [64], "dense")], [("y", [64])])
    report = simulate(program_of(P.copy_vector, sig), {"c": np.ones(64)}, {}, COMAL)
    assert "`y.write_vals(...)`" in report.bottleneck
    assert "only writing fewer tokens cuts it" in report.bottleneck
    assert "sam.fork" not in report.bottleneck


def dot(a, b, **params):
    """A whole-vector sum: its only level is summed away."""
    y = sam.output("y", format=[])
    i_a, a_ref = a.scan(0)
    _, b_ref = b.locate(0, i_a, sam.root())
    y.write_vals(sam.reduce(sam.alu("mul", a.load(a_ref), b.load(b_ref))))


def test_lanes_are_not_offered_over_a_summed_away_level():
    sig = P.signature([("a", [64], "compressed"), ("b", [64], "dense")], [("y", [])])
    program = program_of(dot, sig)
    inner, written = lane_region(program.graphs[0])
    assert inner and not written
    rng = np.random.default_rng(0)
    inputs = {"a": rng.normal(size=64) * (rng.random(64) < 0.8), "b": rng.normal(size=64)}
    report = simulate(program, inputs, {}, COMAL)
    assert "summed away" in report.bottleneck and "sam.fork" not in report.bottleneck


def test_lane_region_of_spmv():
    """Under the outer level: the row scan of B, the locate into c, the loads, the product
    and the reducer; not the outer scan, the roots, the repeat or the writers."""
    program = program_of(P.spmv_rows, SPMV_SIG)
    graph = program.graphs[0]
    inner, written = lane_region(graph)
    ops = sorted(n.op for n in graph.nodes if n.id in inner)
    assert ops == ["alu", "load", "load", "locate", "reduce", "scan"]
    assert written
