"""Cycle counts: hand-computed small graphs, SAM's backpressure rule by hand, deadlock, HBM,
blocks. The channel solver itself is checked against the one event-driven reference in
tests/interpreter/core."""

from __future__ import annotations

import numpy as np
import pytest

from dsl import sam
from interpreter.errors import SimulationError
from interpreter.sam import BACKEND
from interpreter.sam.cycles import HbmModel, time_graph
from interpreter.sam.execute import run_program
from interpreter.sam.simulate import simulate
from interpreter.targets import load_target
from tests.interpreter.sam import programs as P

COMAL = load_target("sam_comal")


def program_of(kernel, sig):
    return BACKEND.load(sam.trace(kernel, sig))


def test_dense_vector_copy_by_hand():
    """root t=[0,1]; scan emits 0 1 2 S0 D at t=1..5 (ref 0 arrives at 1, D at 2); load
    t=2..6; value writer t=3..7; so the last step is at 7 and the graph takes 8 cycles."""
    sig = P.signature([("c", [3], "dense")], [("y", [3])])
    program = program_of(P.copy_vector, sig)
    report = simulate(program, {"c": np.array([1.0, 0.0, 2.0])}, {}, COMAL)
    assert report.cycles == 8
    _, runs = run_program(program, {"c": np.array([1.0, 0.0, 2.0])}, {})
    times = time_graph(runs[0]).times
    assert [t.tolist() for t in times.values()] == [
        [0, 1],
        [1, 2, 3, 4, 5],
        [2, 3, 4, 5, 6],
        [2, 3, 4, 5, 6],
        [3, 4, 5, 6, 7],
    ]


def test_csr_row_sums_by_hand():
    """Rows {0: [0], 1: [0, 1, 2]}.
    root [0, 1] -> scan0 emits 0 1 S0 D at [1, 2, 3, 4] (arrive 2..5);
    scan1 emits 0 S0 0 1 2 S1 D: ref 0 at step 0 (ready 2), ref 1 at step 2 (ready 3),
    merged S0 at step 5 (ready 4), D at step 6 (ready 5) -> t = [2, 3, 4, 5, 6, 7, 8];
    load t = [3..9]; reduce takes 7 tokens in 8 steps (S1 also emits S0 one step later)
    -> t = [4..11], emits at steps 1, 5, 6, 7 = [5, 9, 10, 11]; the value writer takes them
    at [6, 10, 11, 12]: 13 cycles."""
    sig = P.signature([("B", [2, 3], "csr")], [("y", [2])])
    program = program_of(P.row_sums, sig)
    B = np.array([[1.0, 0, 0], [2, 3, 4]])
    _, runs = run_program(program, {"B": B}, {})
    times = time_graph(runs[0]).times
    by_op = {
        n.op + str(n.attrs.get("level", "")): times[n.id].tolist() for n in runs[0].graph.nodes
    }
    assert by_op["scan1"] == [2, 3, 4, 5, 6, 7, 8]
    assert by_op["reduce"] == [4, 5, 6, 7, 8, 9, 10, 11]
    assert by_op["write_vals"] == [6, 10, 11, 12]
    assert simulate(program, {"B": B}, {}, COMAL).cycles == 13


def _cases():
    rng = np.random.default_rng(0)

    def sp(shape, d):
        return rng.uniform(0.5, 1.5, shape) * (rng.random(shape) < d)

    two = [("B", ["N", "M"], "csr"), ("c", ["M"], "dense")]
    yield (
        P.spmv_rows,
        P.signature(two, [("y", ["N"])]),
        {"B": sp((9, 7), 0.3), "c": sp(7, 1)},
        {"N": 9, "M": 7},
    )
    yield (
        P.spmv_parallel,
        P.signature(two, [("y", ["N"])], lanes=3),
        {"B": sp((10, 6), 0.4), "c": sp(6, 1)},
        {"N": 10, "M": 6},
    )
    yield (
        P.copy_matrix_parallel,
        P.signature([("B", ["N", "M"], "dcsr")], [("X", ["N", "M"])], lanes=2, out_format="csr"),
        {"B": sp((8, 5), 0.4)},
        {"N": 8, "M": 5},
    )
    yield (
        P.gustavson,
        P.signature([("B", ["N", "K"], "csr"), ("C", ["K", "M"], "csr")], [("X", ["N", "M"])]),
        {"B": sp((6, 5), 0.4), "C": sp((5, 7), 0.4)},
        {"N": 6, "K": 5, "M": 7},
    )
    yield (
        P.outer_product,
        P.signature([("B", ["N", "N"], "dcsc"), ("C", ["N", "N"], "dcsr")], [("X", ["N", "N"])]),
        {"B": sp((7, 7), 0.3), "C": sp((7, 7), 0.3)},
        {"N": 7},
    )
    yield (
        P.elemadd,
        P.signature([("B", ["N", "N"], "dcsr"), ("C", ["N", "N"], "dcsr")], [("X", ["N", "N"])]),
        {"B": sp((8, 8), 0.3), "C": sp((8, 8), 0.3)},
        {"N": 8},
    )
    yield (
        P.block_inner,
        P.signature(
            [("A", ["N", "K"], "dcsr"), ("B", ["M", "K"], "dcsr")], [("X", ["N", "M"])], block=2
        ),
        {"A": sp((6, 4), 0.5), "B": sp((4, 4), 0.5)},
        {"N": 6, "K": 4, "M": 4},
    )
    rows = sp((7, 5), 0.4)
    rows[[1, 4, 5]] = 0  # empty rows: phantoms reach the reducer and are dropped by the ALU
    yield (
        P.normalize_rows_recomputed,
        P.signature([("B", ["N", "M"], "csr")], [("X", ["N", "M"])]),
        {"B": rows},
        {"N": 7, "M": 5},
    )


CASES = list(_cases())


@pytest.mark.parametrize("case", range(len(CASES)))
def test_deep_fifos_change_nothing_and_shallow_ones_only_slow(case):
    """FIFOs deeper than any stream give the unbounded times; shallower ones never make a
    step earlier (or they deadlock, which is reported)."""
    kernel, sig, inputs, dims = CASES[case]
    _, runs = run_program(program_of(kernel, sig), inputs, dims)
    for run in runs:
        free = time_graph(run)
        deep = time_graph(run, fifo_depth=10_000)
        assert all(np.array_equal(deep.times[k], free.times[k]) for k in free.times)
        for depth in (1, 2, 5):
            try:
                bounded = time_graph(run, fifo_depth=depth)
            except SimulationError as exc:
                assert "deadlock" in str(exc)
                continue
            assert all((bounded.times[k] >= free.times[k]).all() for k in free.times)


def test_backpressure_rule_by_hand():
    """SAM's rule (weiya711/sam, --back): a producer stalls in a cycle after its consumer
    saw more than d tokens queued at its own update, one cycle before; write scanners never
    stall anyone. normalize_rows, one row of 6 ones: the value broadcast (steps 0..7 emit
    6 values, the stop and D, at 4..11 unbounded) feeds a reducer and a divider that takes
    its first value at 13, once the row's sum is there. The step after the one emitting
    token m - 1 may start 2 cycles after the divider took token m - d - 1, or, back to back
    with the step before, with only the earlier tokens' bounds. Depth 4: the stop (step 6,
    back to back) needs token 5 - 4 - 1 = 0 taken, which needs the sum, which needs the
    stop: deadlock. Depth 5: steps 0..6 run back to back; D (step 7) has token 0's bound
    13 + 2 > 11, so it waits for token 1 (taken at 14): 16; the reducer's D follows at 17;
    the signal's D waits for the repeat's take 1 at 13: 15. Cycles stay 22. Depth 6
    changes nothing."""
    sig = P.signature([("B", ["N", "M"], "csr")], [("X", ["N", "M"])])
    program = program_of(P.normalize_rows, sig)
    _, runs = run_program(program, {"B": np.ones((1, 6))}, {"N": 1, "M": 6})
    with pytest.raises(SimulationError, match=r"depth 4 deadlock: node 5 \(broadcast\) \(step 6\)"):
        time_graph(runs[0], fifo_depth=4)
    free = time_graph(runs[0])
    five = time_graph(runs[0], fifo_depth=5)
    by_op = {n.op: n.id for n in runs[0].graph.nodes if n.op != "broadcast"}
    assert free.times[by_op["alu"]][:2].tolist() == [13, 14]
    assert free.times[by_op["repeat"]][:2].tolist() == [12, 13]
    assert five.times[5].tolist() == [4, 5, 6, 7, 8, 9, 10, 16]
    assert five.times[by_op["reduce"]].tolist() == [5, 6, 7, 8, 9, 10, 11, 12, 17]
    assert five.times[by_op["repeat_signal"]].tolist() == [4, 5, 6, 7, 8, 9, 10, 15]
    changed = {5, by_op["reduce"], by_op["repeat_signal"]}
    assert all(np.array_equal(five.times[k], free.times[k]) for k in free.times if k not in changed)
    assert five.cycles == free.cycles == 22
    assert free.fifo_depth == 6
    six = time_graph(runs[0], fifo_depth=6)
    assert all(np.array_equal(six.times[k], free.times[k]) for k in free.times)


def test_step_plans_never_go_backwards():
    for kernel, sig, inputs, dims in CASES:
        _, runs = run_program(program_of(kernel, sig), inputs, dims)
        for run in runs:
            for node in run.graph.nodes:
                s = run.results[node.id].plan
                for arr in [*s.consume, *s.emit]:
                    if arr is not None and len(arr) > 1:
                        assert (np.diff(arr) >= 0).all(), node.label()
                for arr in s.emit:
                    if arr is not None and len(arr) > 1:
                        assert (np.diff(arr) > 0).all(), f"{node.label()} emits twice a step"


def test_backpressure_deadlock_is_reported_not_hung():
    """normalize_rows broadcasts the values to a reducer and to the divider; the divider
    waits for the row sum, so a FIFO shorter than a row deadlocks."""
    B = np.ones((2, 6))
    sig = P.signature([("B", ["N", "M"], "csr")], [("X", ["N", "M"])])
    program = program_of(P.normalize_rows, sig)
    dims = {"N": 2, "M": 6}
    _, runs = run_program(program, {"B": B}, dims)
    with pytest.raises(SimulationError, match="graph 'g0': FIFOs of depth 2 deadlock"):
        time_graph(runs[0], fifo_depth=2)
    deep = time_graph(runs[0], fifo_depth=8)
    assert deep.cycles >= time_graph(runs[0]).cycles
    assert time_graph(runs[0], fifo_depth=64).cycles == time_graph(runs[0]).cycles


def test_small_fifos_cost_cycles_on_spgemm():
    kernel, sig, inputs, dims = CASES[4]
    _, runs = run_program(program_of(kernel, sig), inputs, dims)
    free = time_graph(runs[0]).cycles
    assert time_graph(runs[0], fifo_depth=1).cycles >= free


def test_hbm_model_adds_cycles_and_more_channels_help():
    kernel, sig, inputs, dims = CASES[0]
    _, runs = run_program(program_of(kernel, sig), inputs, dims)
    base = time_graph(runs[0]).cycles
    one = time_graph(runs[0], hbm=HbmModel(channels=1)).cycles
    eight = time_graph(runs[0], hbm=HbmModel(channels=8)).cycles
    assert one > eight > base
    report = simulate(program_of(kernel, sig), inputs, dims, load_target("sam_comal_hbm"))
    assert report.cycles >= report.floor_cycles and report.metrics["hbm"] == 1


def test_block_latencies_slow_the_pipeline():
    kernel, sig, inputs, dims = CASES[6]
    program = program_of(kernel, sig)
    r2 = simulate(program, inputs, dims, COMAL)
    assert r2.metrics["flops"] > 0
    node = next(n for n in program.graphs[0].nodes if n.op == "alu")
    assert r2.per_op[f"g0/{node.id}:alu"]["busy"] == 2 * r2.per_op[f"g0/{node.id}:alu"]["steps"]


def test_report_fields():
    kernel, sig, inputs, dims = CASES[3]
    report = simulate(program_of(kernel, sig), inputs, dims, COMAL)
    for key in (
        "flops",
        "seg_reads",
        "crd_reads",
        "val_reads",
        "seg_writes",
        "crd_writes",
        "val_writes",
        "tokens",
    ):
        assert key in report.metrics
    assert report.cycles >= report.floor_cycles > 0
    assert "node" in report.bottleneck and report.per_op and report.timeline
    # positive inputs: no cancellation, so every accumulated entry is a stored nonzero
    assert report.metrics["val_writes"] == np.count_nonzero(inputs["B"] @ inputs["C"])
    assert report.metrics["crd_writes"] == report.metrics["val_writes"]  # X level 0 is dense


@pytest.mark.parametrize("target", ["sam_comal", "sam_comal_hbm"])
def test_cycles_never_below_the_floor(target):
    for kernel, sig, inputs, dims in CASES:
        report = simulate(program_of(kernel, sig), inputs, dims, load_target(target))
        assert report.cycles >= report.floor_cycles > 0


def test_sparse_dot_product_by_hand():
    """a = {0: 1, 2: 2}, b = {2: 3, 3: 4}, both compressed.
    Each scan emits its fiber, S0 and D at [1, 2, 3, 4] (arriving 2..5). The intersect steps
    over keys 0, 2, 3, the stop and D: ready [2, 3, 3, 4, 5] -> t = [2, 3, 4, 5, 6]; it
    emits 2, S0, D at steps 1, 3, 4, arriving at 4, 6, 7. Loads and the multiply follow one
    cycle apart (mul at [5, 7, 8]); reduce runs at [6, 8, 9] and emits the sum at 8 and D at
    9; the value writer takes them at 9 and 10: 11 cycles."""

    def dot(a, b, **params):
        y = sam.output("y", format="dense")
        ai, a_ref = a.scan(0)
        bi, b_ref = b.scan(0)
        _, ar, br = sam.intersect((ai, a_ref), (bi, b_ref))
        y.write_vals(sam.reduce(sam.alu("mul", a.load(ar), b.load(br))))

    sig = P.signature([("a", [4], "compressed"), ("b", [4], "compressed")], [("y", [])])
    program = program_of(dot, sig)
    inputs = {"a": np.array([1.0, 0, 2, 0]), "b": np.array([0, 0, 3.0, 4])}
    out = {"y": np.array(np.nan)}
    BACKEND.execute(program, inputs, out, {})
    assert out["y"] == 6.0
    _, runs = run_program(program, inputs, {})
    times = time_graph(runs[0]).times
    by_op = {n.op: times[n.id].tolist() for n in runs[0].graph.nodes}
    assert by_op["intersect"] == [2, 3, 4, 5, 6]
    assert by_op["reduce"] == [6, 8, 9]
    assert by_op["write_vals"] == [9, 10]
    assert simulate(program, inputs, {}, COMAL).cycles == 11


@pytest.mark.parametrize("case", range(len(CASES)))
def test_fifo_need_is_the_shallowest_depth_with_the_same_times(case):
    """`fifo_depth` in the resources is exact: bounded FIFOs of that depth reproduce every
    step time of the unbounded run, and one token less changes some (or deadlocks)."""
    kernel, sig, inputs, dims = CASES[case]
    _, runs = run_program(program_of(kernel, sig), inputs, dims)
    for run in runs:
        free = time_graph(run)
        need = max(free.fifo_depth, 1)
        same = time_graph(run, need).times
        assert all(np.array_equal(same[k], free.times[k]) for k in free.times)
        try:
            tighter = time_graph(run, need - 1).times if need > 1 else None
        except SimulationError:
            continue
        if tighter is not None:
            assert any(not np.array_equal(tighter[k], free.times[k]) for k in free.times)


def test_floor_does_not_fall_with_the_programs_lanes():
    """SpMV with 1, 2, 4 and 8 lanes: the floor is the work over the chip's 16 lanes, the
    same whichever parallel factor the program chose (the old floor, the busiest lane's
    steps, fell with every lane added)."""
    rng = np.random.default_rng(3)
    B = rng.uniform(0.5, 1.5, (64, 48)) * (rng.random((64, 48)) < 0.3)
    inputs = {"B": B, "c": rng.uniform(0.5, 1.5, 48)}
    two = [("B", ["N", "M"], "csr"), ("c", ["M"], "dense")]
    floors, cycles = [], []
    for lanes in (1, 2, 4, 8):
        kernel = P.spmv_rows if lanes == 1 else P.spmv_parallel
        sig = P.signature(two, [("y", ["N"])], **({"lanes": lanes} if lanes > 1 else {}))
        report = simulate(program_of(kernel, sig), inputs, {"N": 64, "M": 48}, COMAL)
        assert report.resources["lanes"] == lanes
        floors.append(report.floor_cycles)
        cycles.append(report.cycles)
    # one lane: the busiest stream (the inner scan's, the loads' and the multiply's: every
    # product, the 64 row stops and D), one token per cycle, over 16 lanes; more lanes only
    # add the stops every lane sees
    assert floors[0] == (np.count_nonzero(B) + 64 + 1) / 16
    assert floors == sorted(floors) and floors[-1] < 1.2 * floors[0]
    assert cycles[-1] < cycles[0] / 2


def test_resources_over_the_budget_are_invalid():
    from interpreter.errors import BudgetError

    rng = np.random.default_rng(4)
    two = [("B", ["N", "M"], "csr"), ("c", ["M"], "dense")]
    inputs = {"B": rng.random((10, 6)), "c": rng.random(6)}
    program = program_of(P.spmv_parallel, P.signature(two, [("y", ["N"])], lanes=3))
    dims = {"N": 10, "M": 6}
    report = simulate(program, inputs, dims, COMAL)
    assert report.resources["lanes"] == 3 and report.resources["primitives"] == len(
        program.graphs[0].nodes
    )
    for resource, budget in (("lanes", 2), ("primitives", 10)):
        small = dict(COMAL, budget=dict(COMAL["budget"], **{resource: budget}))
        with pytest.raises(BudgetError, match=f"needs .* {resource}, but target 'sam_comal'"):
            simulate(program, inputs, dims, small)
        out = {"y": np.zeros(10)}
        with pytest.raises(BudgetError):  # refused before it runs, too
            BACKEND.execute(program, inputs, out, dims, small)
