"""STeP hardware-budget hacks: speed bought with compute units, memory ports or on-chip
memory the chip does not have is invalid, and asking for more never lowers the floor.

Before the budget, `compute=10**12` on every compute op of every baseline passed 8-14x
faster than the baseline, with a floor that shrank with it."""

from __future__ import annotations

import numpy as np
import pytest

import dsl.step
from benchmarks.task import load_suite, load_task
from dsl import step
from dsl.step import load_ir
from interpreter.errors import BudgetError
from interpreter.step import BACKEND
from interpreter.step.budget import check_static
from interpreter.targets import load_target
from interpreter.verifier import verify
from tests.dsl.step.helpers import signature
from tests.hacks.step_hacks import GEMM_COMPUTE, gemm_big_tiles

DEFAULT = load_target("step_default")
SMALL = load_target("step_small")
BASELINES = [
    pytest.param(t, marks=pytest.mark.slow) if t.name == "moe_layer_qwen" else t  # 2000 nodes
    for t in load_suite("step")
    if t.baseline
]


def _trace_source(source: str, sig: dict) -> dsl.step.ir.Program:
    namespace: dict = {}
    exec(compile(source, "<program>", "exec"), namespace)  # our own baselines, not an agent's
    return load_ir(step.trace(namespace["kernel"], sig))


def _greedy(build):
    return lambda *args, **kwargs: build(*args, **{**kwargs, "compute": 10**12})


@pytest.mark.parametrize("task", BASELINES, ids=lambda t: getattr(t, "name", ""))
def test_greedy_compute_on_every_baseline_is_over_budget(task, monkeypatch) -> None:
    honest = _trace_source(task.baseline_source(), task.signature())
    used = check_static(honest, DEFAULT)  # every baseline fits the chip
    assert used["compute_units"] <= 1040
    if not used["compute_units"]:
        return  # no compute op: nothing to inflate
    for name in ("map", "accum", "scan", "flat_map"):
        monkeypatch.setattr(dsl.step, name, _greedy(getattr(dsl.step, name)))
    greedy = _trace_source(task.baseline_source(), task.signature())
    with pytest.raises(BudgetError, match=r"compute_units, but target 'step_default' has a "):
        check_static(greedy, DEFAULT)


def test_the_compute_hack_is_invalid_end_to_end() -> None:
    v = verify(load_task("step/gemm"), GEMM_COMPUTE, seed=11)
    assert v.status == "invalid", v.feedback
    assert "needs 1000000000000 compute_units" in v.feedback
    assert "budget of 1040" in v.feedback and "map (node 4" in v.feedback


def _gemm(compute: int):
    def kernel(a, b):
        a_t, ref = step.copy(step.linear_offchip_load(a, (32, 128)))
        b_t = step.expand(step.linear_offchip_load(b, (128, 64)), ref)
        return step.linear_offchip_store(step.map([a_t, b_t], "matmul", compute=compute), "c")

    return kernel


GEMM_SIG = signature(
    {"a": ("float32", [32, 128]), "b": ("float32", [128, 64])}, {"c": ("float32", [32, 64])}
)
GEMM_INPUTS = {
    "a": np.ones((32, 128), np.float32),
    "b": np.ones((128, 64), np.float32),
}


def _report(kernel, target=DEFAULT, sig=GEMM_SIG, inputs=GEMM_INPUTS):
    return BACKEND.simulate(load_ir(step.trace(kernel, sig)), inputs, {}, target)


def test_more_compute_never_lowers_the_floor() -> None:
    """The floor is the whole chip's: 2*32*128*64 = 524288 FLOPs over 1040 x 512 FLOPs per
    cycle is under a cycle, so the 57344 bytes of a, b and c over 1024 B/cycle (56) rule."""
    one, many = _report(_gemm(1)), _report(_gemm(1000))
    assert one.floor_cycles == many.floor_cycles == 56
    assert many.cycles < one.cycles and many.cycles >= many.floor_cycles
    assert one.resources == {
        "compute_units": 1.0,
        "memory_ports": 1.0,
        # loads and store hold one tile each (16384, 32768 and 8192 B), expand holds b
        # (32768), the matmul the [32, 64] tile it writes (8192)
        "onchip_bytes": 16384 + 32768 + 8192 + 32768 + 8192,
    }
    assert many.resources["compute_units"] == 1000


def test_one_op_over_the_budget_is_named() -> None:
    program = load_ir(step.trace(_gemm(1041), GEMM_SIG))
    with pytest.raises(BudgetError, match=r"needs 1041 compute_units.*budget of 1040; the "):
        BACKEND.execute(program, dict(GEMM_INPUTS), {}, {}, target=DEFAULT)


def test_memory_ports_are_counted() -> None:
    """step_small has 64 ports: 31 bufferize/streamify pairs and a compute op fit (63),
    32 pairs do not (65)."""

    def chain(pairs: int):
        def kernel(a, b):
            x = step.linear_offchip_load(a, (32, 128))
            for _ in range(pairs):
                x = step.streamify(step.bufferize(x, rank=1))
            step.sink(step.linear_offchip_load(b, (128, 64)))
            return step.linear_offchip_store(step.map(x, "row_sum"), "c")

        return kernel

    sig = signature(
        {"a": ("float32", [32, 128]), "b": ("float32", [128, 64])}, {"c": ("float32", [32, 1])}
    )
    fits = load_ir(step.trace(chain(31), sig))
    assert check_static(fits, SMALL) == {"compute_units": 1.0, "memory_ports": 63.0}
    over = load_ir(step.trace(chain(32), sig))
    with pytest.raises(
        BudgetError,
        match=r"needs 65 memory_ports, but target 'step_small' has a budget of 64; the largest "
        r"user is bufferize \(node 1, line \d+\) with 1 port",
    ):
        check_static(over, SMALL)


def test_over_budget_onchip_memory_is_invalid() -> None:
    """4096-row tiles of a [32, 128] a are mostly padding: 2 MiB for the load, 1 MiB each for
    the matmul's output tile and the store, and b (32768 in its load and 32768 in expand)."""
    namespace: dict = {}
    exec(compile(gemm_big_tiles(4096), "<hack>", "exec"), namespace)
    program = load_ir(step.trace(namespace["kernel"], GEMM_SIG))
    with pytest.raises(
        BudgetError,
        match=r"needs 4259840 onchip_bytes, but target 'step_small' has a budget of 1048576 "
        r"\(on-chip memory\); the largest user is linear_offchip_load \(node 0",
    ):
        BACKEND.simulate(program, GEMM_INPUTS, {}, SMALL)


def test_the_bottleneck_offers_only_units_the_chip_has_left() -> None:
    """The matmul needs 524288 / 512 = 1024 units for one tile per cycle: with 1 of 1040
    allocated it is told to go to 1024; with the rest of the chip taken by another op it is
    told that every unit is allocated."""
    alone = _report(_gemm(1))
    assert "raise its compute= from 1 to 1024 (1039 units free on the target)" in alone.bottleneck

    def crowded(a, b):
        a_t, ref = step.copy(step.linear_offchip_load(a, (32, 128)))
        b_t = step.expand(step.linear_offchip_load(b, (128, 64)), ref)
        c = step.map(step.map([a_t, b_t], "matmul"), "relu", compute=1039)
        return step.linear_offchip_store(c, "c")

    full = _report(crowded)
    assert full.resources["compute_units"] == 1040
    assert "most in map (node 4" in full.bottleneck
    assert "all 1040 compute units" in full.bottleneck
    assert "raise its compute=" not in full.bottleneck
