"""The builtin compiler on tasks written for it after the suite (benchmarks/step_new): the
dynamic kinds of issue 16 — symbolic row length, argmax gating, ragged GQA decode, top-1 MoE,
a wider per-expert sum — compile and pass the verifier."""

from __future__ import annotations

import pytest

from benchmarks.task import load_suite
from dsl.step.compiler import compile_task
from interpreter.verifier import verify

TASKS = {t.name: t for t in load_suite("benchmarks/step_new")}
FAST = ["gate_argmax", "softmax_cols"]


def test_the_new_tasks_are_five_and_compile() -> None:
    assert sorted(TASKS) == [
        "decode_ragged_gqa8",
        "expert_sum_wide",
        "gate_argmax",
        "moe_layer_top1",
        "softmax_cols",
    ]
    for task in TASKS.values():
        assert "def kernel(" in compile_task(task)


def test_symbolic_row_length_is_counted_and_masked() -> None:
    source = compile_task(TASKS["softmax_cols"])
    assert "step.cdiv(N, tile_cols)" in source and "step.fn.mask_after()" in source
    # N = 100 is not a multiple of the 64-wide column tile: the padded tail must be masked.
    verdict = verify(TASKS["softmax_cols"], source, params={"tile_cols": 64}, seed=3)
    assert verdict.status == "passed", verdict.feedback


@pytest.mark.parametrize("name", FAST)
def test_new_task_passes(name: str) -> None:
    verdict = verify(TASKS[name], compile_task(TASKS[name]), seed=7)
    assert verdict.status == "passed", verdict.feedback


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(TASKS) - set(FAST)))
def test_new_task_passes_slow(name: str) -> None:
    verdict = verify(TASKS[name], compile_task(TASKS[name]), seed=7)
    assert verdict.status == "passed", verdict.feedback
