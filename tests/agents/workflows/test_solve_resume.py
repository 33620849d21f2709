"""Stopping and continuing: an interrupted run resumes without re-doing verified work, a
budget stop keeps partial results, and a second run starts from the first run's best."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.models import CostMeter
from agents.models.scripted import ScriptedModel
from benchmarks.task import load_task
from memory.store import ExperienceStore
from tests.agents.gemm_programs import gemm_program
from tests.agents.workflows.conftest import (
    BASELINE,
    FAST,
    GEMM,
    OPTIMISE,
    PROPOSE,
    TWICE,
    CountingPool,
    detail,
    fenced,
    scripted,
    solve,
)

COMPUTE_2 = gemm_program(compute=2)
COMPUTE_8 = gemm_program(compute=8)
GEMM_SILU = load_task("step/gemm_silu")


class InterruptedAt:
    """The scripted model, with Ctrl-C arriving during its `call`-th call."""

    def __init__(self, model: ScriptedModel, call: int) -> None:
        self.model, self.call, self.calls = model, call, 0
        self.name = model.name

    def complete(self, messages: list[dict[str, str]], **kwargs: Any):
        self.calls += 1
        if self.calls == self.call:
            raise KeyboardInterrupt
        return self.model.complete(messages, **kwargs)


def test_an_interrupted_run_resumes_and_redoes_nothing_verified(
    tmp_path: Path, pool: CountingPool
) -> None:
    model = scripted(
        tmp_path,
        [
            {"text": fenced(BASELINE), "match": PROPOSE},
            {"text": fenced(FAST), "match": PROPOSE},
            {"text": fenced(COMPUTE_8), "match": OPTIMISE},
            {"text": fenced(COMPUTE_2), "match": OPTIMISE},
        ],
    )
    store = ExperienceStore(tmp_path / "memory.sqlite")
    out = tmp_path / "run"
    settings = dict(samples=2, repair_rounds=0, optimise_rounds=1, guardian=False)
    with pytest.raises(KeyboardInterrupt):  # during the first optimise call
        solve(out, InterruptedAt(model, call=3), pool, store, **settings)
    first = json.loads((out / "results.json").read_text())
    assert first["summary"]["stopped"] == "interrupted"
    assert first["tasks"][0]["status"] == "passed"  # what was verified is kept
    assert sorted(pool.verified) == sorted([BASELINE, FAST])

    results = solve(out, model, pool, store, resume=True, **settings)
    assert results["summary"]["stopped"] is None
    # Each program was verified exactly once over both parts of the run.
    assert sorted(pool.verified) == sorted([BASELINE, FAST, COMPUTE_8, COMPUTE_2])
    attempts = detail(out)["attempts"]
    assert [a["id"] for a in attempts] == ["r1s0", "r1s1", "r2s0", "r2s1"]
    assert {a["origin"] for a in attempts[2:]} == {"optimise"}
    # Optimised from the faster proposal (parallel samples take the scripted replies in
    # whatever order their threads ask, so which id got FAST is not fixed).
    faster = min(attempts[:2], key=lambda a: a["verdict"]["cycles"])
    assert faster["program"] == FAST
    assert all(a["parent"] == faster["id"] for a in attempts[2:])
    # ... and recorded exactly once in the store.
    run_id = results["run"]["run_id"]
    assert len(store.attempts(run_id=run_id)) == 4
    assert results["tasks"][0]["cycles"] == min(a["verdict"]["cycles"] for a in attempts)
    assert len(results["run"]["resumed"]) == 1


def test_a_budget_stop_keeps_partial_results_and_resume_finishes(
    tmp_path: Path, pool: CountingPool
) -> None:
    model = scripted(
        tmp_path,
        [
            {
                "text": fenced(BASELINE),
                "match": "# Task: step/gemm\n",
                "cost_usd": 0.01,
                "prompt_tokens": 1000,
                "completion_tokens": 100,
            },
            {"text": fenced(FAST), "match": OPTIMISE, "cost_usd": 0.01},
            {
                "text": fenced(GEMM_SILU.baseline_source() or ""),
                "match": "# Task: step/gemm_silu",
                "cost_usd": 0.01,
            },
        ],
    )
    store = ExperienceStore(tmp_path / "memory.sqlite")
    out = tmp_path / "run"
    settings = dict(samples=1, repair_rounds=0, optimise_rounds=1, guardian=False)
    # $0.015 allows the first call only: the second would be expected to pass the budget.
    stopped = solve(
        out, model, pool, store, tasks=[GEMM, GEMM_SILU], meter=CostMeter(0.015), **settings
    )
    assert stopped["summary"]["stopped"].startswith("budget")
    gemm, silu = stopped["tasks"]
    assert gemm["status"] == "passed" and gemm["attempts"] == 1 and gemm["cost_usd"] == 0.01
    assert silu["status"] == "not_run"
    assert stopped["summary"]["tokens"] == 1100 and stopped["summary"]["cost_usd"] == 0.01
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["summary"] == stopped["summary"]

    done = solve(out, model, pool, store, tasks=[GEMM, GEMM_SILU], resume=True, **settings)
    gemm, silu = done["tasks"]
    assert done["summary"]["stopped"] is None and done["summary"]["solved"] == 2
    assert gemm["attempts"] == 2 and gemm["best_attempt"] == "r2s0"
    assert silu["status"] == "passed"
    assert pool.verified.count(BASELINE) == 1  # not re-verified after the stop
    assert done["summary"]["cost_usd"] == 0.03  # both parts of the run


def test_a_second_run_recalls_the_first_runs_solution(tmp_path: Path, pool: CountingPool) -> None:
    store = ExperienceStore(tmp_path / "memory.sqlite")
    first_model = scripted(tmp_path, [{"text": fenced(FAST), "match": PROPOSE}], name="first")
    first = solve(
        tmp_path / "first",
        first_model,
        pool,
        store,
        samples=1,
        repair_rounds=0,
        optimise_rounds=0,
        guardian=False,
    )
    assert first["tasks"][0]["status"] == "passed"
    stored = store.best("step/gemm")

    # The second run knows gemm already (re-verified, no model call) and shows gemm's
    # program to the model as an example for the similar gemm_silu task.
    second_model = scripted(
        tmp_path, [{"text": "no idea", "match": "# Task: step/gemm_silu"}], name="second"
    )
    second = solve(
        tmp_path / "second",
        second_model,
        pool,
        store,
        tasks=[GEMM, GEMM_SILU],
        samples=1,
        repair_rounds=0,
        optimise_rounds=0,
        guardian=False,
    )
    gemm = second["tasks"][0]
    assert gemm["status"] == "passed"
    (recalled,) = detail(tmp_path / "second")["attempts"]
    assert recalled["origin"] == "recall" and recalled["program"] == FAST
    assert pool.verified.count(FAST) == 2  # re-measured, never trusted from memory
    latest = store.attempts(run_id=second["run"]["run_id"], task_key="step/gemm")
    assert latest[0].parent_id == stored.id
    (prompt,) = second_model.prompts
    assert "Verified programs for similar tasks" in prompt[-1]["content"]
    assert "### step/gemm," in prompt[-1]["content"] and "compute=4" in prompt[-1]["content"]


def test_a_proposal_paid_for_keeps_its_verdict_when_the_guardian_is_over_budget(
    tmp_path: Path, pool: CountingPool
) -> None:
    model = scripted(tmp_path, [{"text": fenced(TWICE), "match": PROPOSE, "cost_usd": 0.01}])
    store = ExperienceStore(tmp_path / "memory.sqlite")
    results = solve(
        tmp_path / "run",
        model,
        pool,
        store,
        meter=CostMeter(0.015),
        samples=1,
        repair_rounds=1,
        optimise_rounds=0,
        guardian=True,
    )
    assert results["summary"]["stopped"].startswith("budget")  # at the repair call
    (attempt,) = detail(tmp_path / "run")["attempts"]
    assert attempt["guardian"] == "skipped: budget reached"
    assert attempt["verdict"]["status"] == "invalid" and pool.verified == [TWICE]
    assert len(model.prompts) == 1  # the guardian was never asked
