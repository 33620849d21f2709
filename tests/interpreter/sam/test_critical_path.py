"""The SAM critical path and the advice built from it: a graph walked by hand, the path
covering every cycle (bounded FIFOs, HBM, random matrices), and advice that names only a
change able to help the resource it found."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import sam
from interpreter.sam import BACKEND
from interpreter.sam import critical_path as cp
from interpreter.sam.advice import lane_region
from interpreter.sam.critical_path import FULL, HBM, LATENCY, STEPS, critical_path
from interpreter.sam.critical_path_kernel import (
    CHARGE_PATH,
    FIELDS,
    KIND,
    PARTS,
    PRED,
    READY,
    RUN,
    SLACK,
    START,
    STEP,
    charge_path,
)
from interpreter.sam.critical_path_kernel import (
    LATENCY as LATENCY_PART,
)
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


def spmv_examples(test):
    """The examples of the properties below: SpMV 24x24 at any density, FIFO depth and
    memory model."""
    return settings(max_examples=20, deadline=None)(
        given(
            density=st.floats(0.02, 0.9),
            seed=st.integers(0, 2**16),
            depth=st.sampled_from([0, 1, 2, 4]),
            memory=st.booleans(),
        )(test)
    )


@spmv_examples
def test_the_path_covers_every_cycle(density, seed, depth, memory):
    """Each cycle of the run is charged once, to a non-negative part, whatever the FIFO
    depth or memory model: the walk never skips a wait nor counts one twice."""
    target = HBM_TARGET if memory else COMAL
    program = program_of(P.spmv_rows, SPMV_SIG)
    path, _, timings = path_of(program, _spmv_inputs(24, density, seed), target, depth)
    assert path.cycles == sum(t.cycles for t in timings)
    assert sum(path.share.values()) == path.cycles
    assert min(path.share.values()) > 0


def test_a_step_ahead_of_its_room_is_charged_to_its_own_work():
    """With depth-1 FIFOs, a scanner's step here ran back to back two cycles ahead of its
    credit (SAM's lagged rule): the walk once read that as a wait for the room, a step
    waiting for a time after its start, and charged 97 cycles of the run's 95. No step of
    the path may wait for a time after its start."""
    program = program_of(P.spmv_rows, SPMV_SIG)
    path, runs, timings = path_of(program, _spmv_inputs(24, 0.0625, 1), COMAL, 1)
    assert sum(path.share.values()) == path.cycles == 95
    walk = cp._GraphWalk(0, runs[0], timings[0], None, 1)
    assert (walk.begin >= walk.ready).all()


class _AskEveryStep(cp._GraphWalk):
    """The walk working out every step's wait, not only the run starts'."""

    def _run_starts(self, firsts, sizes):
        return np.arange(len(self.start))


@spmv_examples
def test_runs_start_where_every_steps_wait_says(density, seed, depth, memory):
    """A step continues a back-to-back run exactly when, its wait worked out in full, it
    waited last for its own previous step and started the moment that ended: the walk
    asks why only at the other steps, and finds there what the full count finds."""
    target = HBM_TARGET if memory else COMAL
    program = program_of(P.spmv_rows, SPMV_SIG)
    _, runs, timings = path_of(program, _spmv_inputs(24, density, seed), target, depth)
    hbm = hbm_model(target)
    walk = cp._GraphWalk(0, runs[0], timings[0], hbm, depth)
    full = _AskEveryStep(0, runs[0], timings[0], hbm, depth)
    chained = (full.ready == full.start) & (full.kind == cp._OWN)
    np.testing.assert_array_equal(walk.rows, np.flatnonzero(~chained))
    assert (full.start >= full.ready).all()  # no step waited for a time after its start
    for name in ("ready", "kind", "pred"):
        np.testing.assert_array_equal(getattr(walk, name), getattr(full, name)[walk.rows])


class _Forced:
    """A stand-in for a `jit.Kernel` that always picks its plain or its compiled loop."""

    def __init__(self, kernel, compiled: bool) -> None:
        self.kernel, self.compiled = kernel, compiled

    def pick(self, size: int):
        return self.kernel.compiled() if self.compiled else self.kernel.plain


@pytest.mark.slow  # loads the compiled kernels (~1 s)
@spmv_examples
def test_the_compiled_walk_equals_the_plain_one(density, seed, depth, memory):
    """Every run start's wait and the path charged from them, plain and compiled."""
    target = HBM_TARGET if memory else COMAL
    program = program_of(P.spmv_rows, SPMV_SIG)
    _, runs, timings = path_of(program, _spmv_inputs(24, density, seed), target, depth)
    hbm = hbm_model(target)
    found = []
    for compiled in (False, True):
        with pytest.MonkeyPatch.context() as patch:
            for name in ("INPUT_WAITS", "ROOM_WAITS", "CHARGE_PATH"):
                patch.setattr(cp, name, _Forced(getattr(cp, name), compiled))
            walk = cp._GraphWalk(0, runs[0], timings[0], hbm, depth)
            path = cp.CriticalPath()
            walk.walk(path)
            found.append((walk.waits, list(path.share.items()), path.stalls))
    np.testing.assert_array_equal(found[0][0], found[1][0])
    assert found[0][1:] == found[1][1:]


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


@settings(max_examples=15, deadline=None)
@given(
    density=st.floats(0.05, 0.9),
    seed=st.integers(0, 2**16),
    depth=st.sampled_from([0, 1, 3]),
    memory=st.booleans(),
)
def test_one_token_per_step_shortcuts_equal_the_general_count(density, seed, depth, memory):
    """Edges whose step m emits or takes token m skip the per-step token counting; counted
    the general way (every edge marked otherwise) the path is the same."""
    target = HBM_TARGET if memory else COMAL
    program = program_of(P.spmv_rows, SPMV_SIG)
    want, runs, timings = path_of(program, _spmv_inputs(24, density, seed), target, depth)
    edges = timings[0].edges
    assert any(any(e.one_per_step) for e in edges)  # the shortcuts run
    general = [dataclasses.replace(e, one_per_step=(False, False)) for e in edges]
    timings = [dataclasses.replace(timings[0], edges=general)]
    got = critical_path(runs, timings, hbm_model(target), depth)
    assert got.cycles == want.cycles and got.stalls == want.stalls
    assert got.share == pytest.approx(want.share)


def _chase(charge, end, first, pred, owner, kind=None):
    """`charge_path` on steps numbered 0.. (`first[i]`: the run start of step i, which
    waited for step `pred[first[i]]`), step i starting at cycle i, a run start ready a
    cycle before it starts, nodes of II 1 given by `owner` (ascending); `kind`: what each
    run start waited for (default: a token when it has a `pred`, else its own work).
    Returns (hops, share, stalls)."""
    rows = np.unique(first)
    kind = np.where(pred >= 0, 0, cp._OWN) if kind is None else kind
    waits = np.zeros((len(rows), FIELDS), dtype=np.int64)
    waits[:, STEP], waits[:, START], waits[:, READY] = rows, rows, rows - 1
    waits[:, PRED], waits[:, KIND] = pred[rows], kind[rows]
    ends = np.cumsum(np.bincount(owner))
    width = len(ends)
    share, stalls = np.zeros((PARTS, width)), np.zeros((width, width), dtype=np.int64)
    start = np.arange(len(first), dtype=np.int64)
    ids, ii = np.arange(width, dtype=np.int64), np.ones(width, dtype=np.int64)
    cursor = np.maximum(np.searchsorted(rows, ends) - 1, 0)  # each node's last run start
    hops = charge(end, waits, start, ends, ids, ii, share, stalls, cursor)
    return hops, share, stalls


def test_chase_by_hand():
    """Step 3's run (node 1) starts at 2, which waited for a token from step 1 (node 0),
    whose run starts at 0, at cycle 0: two hops, each run a step of its own work; the
    token arrived a cycle before step 2 started (slack), after no latency."""
    first = np.array([0, 0, 2, 2], dtype=np.int64)
    pred = np.array([-1, -1, 1, -1], dtype=np.int64)
    hops, share, _ = _chase(charge_path, 3, first, pred, np.array([0, 0, 1, 1]))
    assert hops == 2
    np.testing.assert_array_equal(share[RUN], [1, 1])
    np.testing.assert_array_equal(share[SLACK], [0, 1])
    assert not share[LATENCY_PART].any()


@pytest.mark.slow  # loads the compiled kernel (~1 s)
@settings(max_examples=40, deadline=None)
@given(st.data())
def test_the_plain_charge_equals_the_compiled_one(data):
    """Random back-to-back runs (`first[i] <= i`, a node's first step starting one), waits
    on earlier steps of any kind."""
    n = data.draw(st.integers(1, 40))
    first = np.array([data.draw(st.integers(0, i)) for i in range(n)], dtype=np.int64)
    owner = np.sort(np.array([data.draw(st.integers(0, 3)) for _ in range(n)]))
    heads = np.flatnonzero(np.diff(owner)) + 1
    first[heads] = heads  # a node's first step starts a run
    first = np.maximum.accumulate(first)  # runs are contiguous
    pred = np.array([data.draw(st.integers(-1, j - 1)) for j in range(n)], dtype=np.int64)
    kind = np.array([data.draw(st.integers(-3, 1)) for _ in range(n)], dtype=np.int64)
    kind[(pred < 0) & (kind >= 0)] = cp._OWN  # a token wait names its producer
    end = data.draw(st.integers(0, n - 1))
    plain = _chase(charge_path, end, first, pred, owner, kind)
    compiled = _chase(CHARGE_PATH.compiled(), end, first, pred, owner, kind)
    assert plain[0] == compiled[0]
    np.testing.assert_array_equal(plain[1], compiled[1])
    np.testing.assert_array_equal(plain[2], compiled[2])


def test_a_small_program_never_imports_numba():
    """A task-sized program's simulation (critical path and advice included) runs the plain
    chase and solver: the process never pays numba's start-up (~1 s of CPU)."""
    code = (
        "import sys\n"
        "import tests.interpreter.sam.test_critical_path as t\n"
        "program = t.program_of(t.P.spmv_rows, t.SPMV_SIG)\n"
        "target = dict(t.COMAL, fifo_depth=2)\n"
        "report = t.simulate(program, t._spmv_inputs(24, 0.3, 1), {}, target)\n"
        "assert report.bottleneck.startswith('Critical path'), report.bottleneck\n"
        "assert 'numba' not in sys.modules\n"
    )
    root = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_a_cycle_of_waits_is_refused_not_followed_forever() -> None:
    """Steps 0 <- 1 <- 0: no schedule has it; the chase (plain, and compiled with no bounds
    check above its threshold) must stop rather than follow it forever."""
    first = np.array([0, 1], dtype=np.int64)
    pred = np.array([1, 0], dtype=np.int64)
    with pytest.raises(ValueError, match="waits form a cycle"):
        _chase(charge_path, 1, first, pred, np.array([0, 0]))


@pytest.mark.slow  # loads the compiled kernels (~1 s)
def test_warm_up_compiles_every_kind_of_array_the_walk_passes():
    """A compiled kernel is compiled again (or loaded from numba's cache, ~0.01 s) for each
    new kind of argument, and a read-only array is a kind of its own. Once `warm_up` ran
    (in the eval server), simulating the suite's programs on targets with and without HBM
    and with bounded FIFOs must call the kernels only with kinds it compiled, or each warm
    evaluation's children pay those loads again."""
    import copy

    from benchmarks.perf.report_fingerprints import build
    from benchmarks.task import load_suite
    from interpreter.sam import critical_path_kernel as kernels
    from interpreter.verify.compare import poisoned

    kernels.warm_up()
    names = ("INPUT_WAITS", "ROOM_WAITS", "CHARGE_PATH")
    warmed = {n: set(getattr(kernels, n).compiled().signatures) for n in names}
    bounded = copy.deepcopy(COMAL)
    bounded["fifo_depth"] = 2
    picked = {"spmv", "gcn_karate", "bigbird_attention_b32", "spgemm_inner"}
    tasks = [t for t in load_suite("sam") if t.name in picked]
    assert len(tasks) == len(picked)
    for task in tasks:
        program = build(task, task.baseline_source())
        dims = task.full_dims(task.checks[0])
        inputs = task.make_inputs(dims, seed=0)
        for target in (COMAL, HBM_TARGET, bounded):
            checked = BACKEND.execute(program, inputs, poisoned(task, dims), dims, target=target)
            BACKEND.simulate(program, inputs, dims, target, checked=checked)
    for n in names:
        assert set(getattr(kernels, n).compiled().signatures) == warmed[n], n
