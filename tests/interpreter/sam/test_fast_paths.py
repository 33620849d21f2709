"""The speed-ups of the SAM simulator keep its answers: branch-free helpers, skipped memory
steps and the malloc tuning (benchmarks/perf/sam_sim_speed.py)."""

from __future__ import annotations

import numpy as np
import pytest

from dsl import sam
from interpreter.errors import ExecutionError
from interpreter.sam.cycles import HbmModel, time_graph
from interpreter.sam.execute import load_inputs, run_graphs
from interpreter.sam.malloc_tuning import keep_freed_memory
from interpreter.sam.simulate import simulate
from interpreter.sam.streams import DATA, DONE, EMPTY, empties_as_data
from interpreter.targets import load_target
from tests.interpreter.sam import programs as P
from tests.interpreter.sam.tokens import S0, D, N, R, crd, run, tensor, val


def test_empties_as_data_changes_only_empties():
    ctl = np.array([DATA, EMPTY, DONE, 0, 1, 2, EMPTY], dtype=np.int16)
    out = empties_as_data(ctl)
    assert out.tolist() == [DATA, DATA, DONE, 0, 1, 2, DATA] and out.dtype == np.int16
    assert ctl[1] == EMPTY  # the input is not written
    no_empty = np.array([DATA, 0, DONE], dtype=np.int16)
    assert empties_as_data(no_empty) is no_empty


def test_repeat_rejects_a_signal_that_is_not_r_fibers():
    with pytest.raises(ExecutionError, match="repeat signal must be fibers of R tokens"):
        run("repeat", {}, crd(0, 1, S0, D), crd(R, N, S0, R, S0, D))
    with pytest.raises(ExecutionError, match="repeat signal must be fibers of R tokens"):
        run("repeat", {}, crd(0, 1, S0, D), crd(R, S0, R, S0, R, D))


def test_repeat_of_blocks_keeps_block_shape():
    x = val(5, 6, S0, D)
    x.val = x.val[:, None, None] * np.ones((1, 2, 2))
    r = run("repeat", {}, x, crd(R, R, S0, R, S0, D))
    out = r.outputs[0]
    assert out.val.shape == (6, 2, 2)
    assert out.val[:, 0, 0].tolist() == [5.0, 5.0, 0.0, 6.0, 0.0, 0.0]
    assert out.ctl.tolist() == [DATA, DATA, 0, DATA, 1, DONE]


@pytest.mark.parametrize("fmt", ["dense", "csr", "dcsr", "dcsc"])
@pytest.mark.parametrize("density", [0.0, 0.3, 1.0])
def test_from_coords_round_trips(fmt, density):
    rng = np.random.default_rng(7)
    a = np.where(rng.random((5, 4)) < density, rng.uniform(1, 2, (5, 4)), 0.0)
    ft = tensor("A", a, fmt)
    assert np.array_equal(ft.to_dense((5, 4)), a)
    assert not np.shares_memory(ft.vals, a)


def _spmv_case(n: int = 30):
    rng = np.random.default_rng(3)
    b = np.where(rng.random((n, n)) < 0.2, rng.uniform(0.5, 1.5, (n, n)), 0.0)
    sig = P.signature([("B", ["N", "N"], "csr"), ("c", ["N"], "dense")], [("y", ["N"])])
    program = sam.load_ir(sam.trace(P.spmv_rows, sig))
    return program, {"B": b, "c": rng.uniform(size=n)}, {"N": n}


def test_memory_steps_only_change_the_memory_model_input():
    program, inputs, dims = _spmv_case()
    trees = load_inputs(program, inputs, dims)
    with_steps = run_graphs(program, dict(trees), dims, memory_steps=True)
    without = run_graphs(program, dict(trees), dims, memory_steps=False)
    assert any(r.plan.memory is not None for r in with_steps[0].results.values())
    assert all(r.plan.memory is None for r in without[0].results.values())
    for fifo in (0, 2):
        assert time_graph(with_steps[0], fifo).cycles == time_graph(without[0], fifo).cycles
    # with the memory model on, simulate builds the steps and the model slows the graph
    hbm_target = dict(load_target("sam_comal"), hbm={"enabled": True, **vars(HbmModel())})
    slow = simulate(program, inputs, dims, hbm_target)
    fast = simulate(program, inputs, dims, load_target("sam_comal"))
    assert slow.metrics["hbm"] == 1.0 and slow.cycles > fast.cycles


def test_keep_freed_memory_is_idempotent():
    first = keep_freed_memory()
    assert isinstance(first, bool)
    assert keep_freed_memory() is first


def test_a_functional_run_builds_no_costly_step_plans():
    """Step plans that cost work (scanners, joiners, repeaters, reducers, accumulators) are
    built only when the cycle pass asks; asking twice builds once."""
    program, inputs, dims = _spmv_case()
    runs = run_graphs(program, load_inputs(program, inputs, dims), dims)
    lazy = {"scan", "repeat", "intersect", "union", "reduce", "spacc", "crd_hold"}
    results = {n.op: runs[0].results[n.id] for n in runs[0].graph.nodes}
    assert lazy & set(results)
    for op in lazy & set(results):
        assert callable(results[op].step_plan), op
        plan = results[op].plan
        assert results[op].plan is plan and results[op].step_plan is plan
