"""The registry's op flags say something true about the simulator: `uses_compute` marks the
ops the budget counts compute units for, and a program with no `value_timed` op takes the same
cycles on any data of the same shapes, while routing by data values moves them."""

from __future__ import annotations

import numpy as np

from dsl import step
from dsl.core.spec import USES_COMPUTE, VALUE_TIMED
from dsl.step.ops import OPS
from interpreter.step import BACKEND
from interpreter.step.budget import COMPUTE_OPS
from interpreter.targets import load_target
from tests.dsl.step.helpers import signature

TARGET = load_target("step_default")
N = 24
C = 512  # routed rows wide enough that compute, not loads, sets the pace


def _dense(x, w):
    """y = exp(x @ w), row tiles of 4: no op whose timing depends on values."""
    xt = step.linear_offchip_load(x, (4, 16))  # [N/4, 1] of [4, 16]
    wt = step.linear_offchip_load(w, (16, 16), shape=(N // 4, 1), stride=(0, 0))
    y = step.map(step.map([xt, wt], "matmul"), "exp")
    return step.linear_offchip_store(y, "y")


def _routed(x, ids):
    """Each row goes to expert 0 (exp, matmul-free) or expert 1 (silu then exp): which rows
    go where is data, so the busy expert and hence the cycles depend on `ids`."""
    rows = step.flatten(step.linear_offchip_load(x, (1, C)))  # [N] of [1, C]
    sel = step.flatten(step.map(step.linear_offchip_load(ids, (1, 1)), step.fn.to_selector(n=2)))
    sel_a, sel_b = step.copy(sel)
    cheap, dear = step.partition(rows, sel_a, 2)
    cheap = step.map(cheap, "exp")
    dear = step.map(step.map(step.map(dear, "silu"), "exp"), "silu")
    back = step.accum(step.reassemble([cheap, dear], sel_b), "add", rank=1)
    return step.linear_offchip_store(back, "y")


def _cycles(kernel, sig: dict, inputs: dict) -> int:
    program = step.build(kernel, sig)
    return BACKEND.simulate(program, inputs, {}, TARGET).cycles


def test_uses_compute_flags_the_ops_with_compute_units() -> None:
    assert set(OPS.flagged(USES_COMPUTE)) == {n for n, s in OPS.items() if "compute" in s.attrs}
    assert set(COMPUTE_OPS) == set(OPS.flagged(USES_COMPUTE))


def test_without_value_timed_ops_cycles_do_not_depend_on_values() -> None:
    sig = signature(
        {"x": ("float32", [N, 16]), "w": ("float32", [16, 16])}, {"y": ("float32", [N, 16])}
    )
    program = step.build(_dense, sig)
    assert not {n.op for n in program.nodes} & set(OPS.flagged(VALUE_TIMED))
    rng = np.random.default_rng(0)
    runs = {
        _cycles(_dense, sig, {"x": x, "w": w})
        for x, w in [
            (np.zeros((N, 16), np.float32), np.zeros((16, 16), np.float32)),
            (rng.standard_normal((N, 16), np.float32), rng.standard_normal((16, 16), np.float32)),
            (np.full((N, 16), 1e30, np.float32), np.eye(16, dtype=np.float32)),
        ]
    }
    assert len(runs) == 1


def test_routing_by_value_moves_the_cycles() -> None:
    sig = signature(
        {"x": ("float32", [N, C]), "ids": ("int64", [N, 1])}, {"y": ("float32", [N, C])}
    )
    program = step.build(_routed, sig)
    assert {"partition", "reassemble"} <= set(OPS.flagged(VALUE_TIMED))
    assert {"partition", "reassemble"} <= {n.op for n in program.nodes}
    x = np.ones((N, C), np.float32)
    all_cheap = _cycles(_routed, sig, {"x": x, "ids": np.zeros((N, 1), np.int64)})
    all_dear = _cycles(_routed, sig, {"x": x, "ids": np.ones((N, 1), np.int64)})
    assert all_dear > all_cheap
