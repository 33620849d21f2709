"""Every task is solvable: its expert solution and its baseline pass the verifier.

The expert solutions live in `solutions/` (never shown to a model). The default run checks a
handful of static and routed tasks; `-m slow` checks all of them. Experts must beat or
match their baseline's cycles (they are the suite's proof that the baseline leaves room).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.task import load_suite
from interpreter.verifier import verify

SOLUTIONS = Path(__file__).parent / "solutions"
TASKS = {t.name: t for t in load_suite("step")}
FAST = ["gemm", "attention", "rmsnorm", "rope_positions", "moe_combine_gather", "moe_layer"]
SLOW = sorted(set(TASKS) - set(FAST))


def test_one_expert_solution_per_task() -> None:
    assert sorted(p.stem for p in SOLUTIONS.glob("*.py")) == sorted(TASKS)


def check(name: str) -> None:
    task = TASKS[name]
    expert = verify(task, (SOLUTIONS / f"{name}.py").read_text(), seed=11)
    assert expert.status == "passed", f"expert: {expert.feedback}"
    baseline = verify(task, task.baseline_source() or "", seed=11)
    assert baseline.status == "passed", f"baseline: {baseline.feedback}"
    assert expert.cycles <= baseline.cycles * 1.05, (expert.cycles, baseline.cycles)


@pytest.mark.parametrize("name", FAST)
def test_expert_and_baseline_pass(name: str) -> None:
    check(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_expert_and_baseline_pass_all(name: str) -> None:
    check(name)


def test_a_wrong_program_is_caught() -> None:
    """The suite's checks have teeth: a softmax that skips the normalisation fails."""
    source = (
        (SOLUTIONS / "softmax.py")
        .read_text()
        .replace(
            'step.map([e1, step.map(e2, "row_sum")], "div")',
            'step.map([e1, step.map(e2, "row_max")], "div")',
        )
    )
    verdict = verify(TASKS["softmax"], source, seed=0)
    assert verdict.status == "incorrect"
    assert "output 'y'" in verdict.feedback


def test_ignoring_kv_lengths_is_caught() -> None:
    """Attending to the whole cache (garbage rows included) must fail on the real lengths."""
    original = (SOLUTIONS / "attention_decode_azure.py").read_text()
    source = original.replace("step.fn.mask_after()", "step.fn.mask_after(fill=0.0)")
    assert source != original
    verdict = verify(TASKS["attention_decode_azure"], source, seed=0, simulate=False)
    assert verdict.status == "incorrect"
