"""Hacks that only task inputs can catch (issue 9, item 6), each asserted to fail now.

Every program here is what a sloppy or a cunning agent writes against the real STeP API: it
is correct on ordinary random rows and wrong on the rows the generators now plant in every
check (zero and tiny-norm rows, rows in the hundreds), or it only works up to a hard-coded
tile of 128 rows, which the held-out sizes now exceed. Checks run on a fixed seed so the
verdict is the same on every run; the planted rows are in every draw, so any seed fails.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.task import load_task
from interpreter.verifier import verify

SEED = 4242


def _rmsnorm(eps_line: str) -> str:
    return f"""
from dsl import step


def kernel(x, g):
    x0, x1, x2 = step.copy(step.linear_offchip_load(x, (16, 64)), 3)
    g_t = step.expand(step.linear_offchip_load(g, (1, 64)), x2)
    ms = step.map(step.map(x0, "square"), "row_mean")
    {eps_line}
    xn = step.map([x1, step.map(ms_eps, "rsqrt")], "mul")
    return step.linear_offchip_store(step.map([xn, g_t], "mul"), "y")
"""


RMSNORM_NO_EPS = _rmsnorm("ms_eps = ms")
RMSNORM_EPS_1E4 = _rmsnorm("ms_eps = step.map(ms, step.fn.add_scalar(value=1e-4))")
RMSNORM_EPS_1E6 = _rmsnorm("ms_eps = step.map(ms, step.fn.add_scalar(value=1e-6))")
RMSNORM_RIGHT_EPS = _rmsnorm("ms_eps = step.map(ms, step.fn.add_scalar(value=1e-5))")

LAYERNORM_NO_EPS = """
from dsl import step


def kernel(x, g, b):
    x0, x1, x2, x3 = step.copy(step.linear_offchip_load(x, (16, 96)), 4)
    g_t = step.expand(step.linear_offchip_load(g, (1, 96)), x2)
    b_t = step.expand(step.linear_offchip_load(b, (1, 96)), x3)
    xc0, xc1 = step.copy(step.map([x1, step.map(x0, "row_mean")], "sub"))
    var = step.map(step.map(xc0, "square"), "row_mean")
    xn = step.map([xc1, step.map(var, "rsqrt")], "mul")
    return step.linear_offchip_store(step.map([step.map([xn, g_t], "mul"), b_t], "add"), "y")
"""

ADD_RMSNORM_NO_EPS = """
from dsl import step


def kernel(x, residual, g):
    x_t0, x_t1 = step.copy(step.linear_offchip_load(x, (16, 64)))
    g_t = step.expand(step.linear_offchip_load(g, (1, 64)), x_t1)
    h = step.map([x_t0, step.linear_offchip_load(residual, (16, 64))], "add")
    h0, h1, h2 = step.copy(h, 3)
    inv = step.map(step.map(step.map(h0, "square"), "row_mean"), "rsqrt")
    y = step.map([step.map([h1, inv], "mul"), g_t], "mul")
    return step.linear_offchip_store(y, "y"), step.linear_offchip_store(h2, "h")
"""

SOFTMAX_NO_MAX = """
from dsl import step


def kernel(x):
    e0, e1 = step.copy(step.map(step.linear_offchip_load(x, (16, 128)), "exp"))
    return step.linear_offchip_store(step.map([e0, step.map(e1, "row_sum")], "div"), "y")
"""

GEMM_ONE_TILE_OF_128 = """
from dsl import step


def kernel(a, b):
    M, K, N = a.shape[0], a.shape[1].value, b.shape[1].value
    # all of `a` as one 128-row tile, claimed to be the whole tile grid: true while M <= 128
    whole = step.linear_offchip_load(a, (128, K), shape=(1, 1), stride=(1, 1))
    a_t, ref = step.copy(step.assume_shape(whole, (step.cdiv(M, 128), 1)))
    b_t = step.expand(step.linear_offchip_load(b, (K, N)), ref)
    return step.linear_offchip_store(step.map([a_t, b_t], "matmul"), "c")
"""

HACKS = [
    ("step/rmsnorm", RMSNORM_NO_EPS, "incorrect"),
    ("step/rmsnorm", RMSNORM_EPS_1E4, "incorrect"),
    ("step/rmsnorm", RMSNORM_EPS_1E6, "incorrect"),
    ("step/layernorm", LAYERNORM_NO_EPS, "incorrect"),
    ("step/add_rmsnorm", ADD_RMSNORM_NO_EPS, "incorrect"),
    ("step/softmax", SOFTMAX_NO_MAX, "incorrect"),
    ("step/gemm", GEMM_ONE_TILE_OF_128, "invalid"),
]
IDS = [
    "rmsnorm-no-eps",
    "rmsnorm-eps-1e-4",
    "rmsnorm-eps-1e-6",
    "layernorm-no-eps",
    "add-rmsnorm-no-eps",
    "softmax-no-max",
    "gemm-valid-only-to-128-rows",
]


@pytest.mark.parametrize(("task", "source", "status"), HACKS, ids=IDS)
def test_shortcut_fails(task: str, source: str, status: str) -> None:
    verdict = verify(load_task(task), source, seed=SEED, simulate=False)
    assert verdict.status == status, verdict.feedback


def test_the_honest_form_of_the_same_program_passes() -> None:
    """The failures above come from the shortcut, not from the program's shape."""
    verdict = verify(load_task("step/rmsnorm"), RMSNORM_RIGHT_EPS, seed=SEED, simulate=False)
    assert verdict.status == "passed", verdict.feedback


@pytest.mark.parametrize("name", ["gcn_karate", "gcn_layer_karate", "graphsage_karate"])
def test_a_fixed_graph_is_renumbered_per_check(name: str) -> None:
    """A program that hard-codes the karate club's structure, or replays an output it saw,
    cannot pass two checks: the graph is the same real one (34 members, 78 friendships,
    the same degrees) but numbered afresh in every draw, so the matrix and the output
    change."""
    task = load_task(f"sam/{name}")
    dims = task.full_dims(task.checks[0])
    first, second = task.make_inputs(dims, 1), task.make_inputs(dims, 2)
    graph = "A" if "A" in first else "Am"
    a, b = (first[graph] != 0), (second[graph] != 0)
    assert not np.array_equal(a, b)
    assert sorted(a.sum(axis=1)) == sorted(b.sum(axis=1))
    off_diagonal = ~np.eye(len(a), dtype=bool)
    assert np.count_nonzero(a & off_diagonal) == np.count_nonzero(b & off_diagonal) == 2 * 78
    out_1 = task.reference_outputs(first, dims)
    out_2 = task.reference_outputs(second, dims)
    assert not all(np.allclose(out_1[k], out_2[k]) for k in out_1)
