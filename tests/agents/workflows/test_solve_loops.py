"""The solve graph's loops on a real task: repair from the verifier's feedback, optimise
from the simulator's report, the guardian pass, and bad replies as failed attempts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.models import Reply
from memory.store import ExperienceStore
from tests.agents.workflows.conftest import (
    BAD_FN,
    BASELINE,
    FAST,
    GEMM,
    GUARDIAN,
    OPTIMISE,
    PROPOSE,
    REPAIR,
    TWICE,
    CountingPool,
    detail,
    fenced,
    scripted,
    solve,
)


def test_repair_turns_a_failing_program_into_a_passing_one_from_the_feedback(
    tmp_path: Path, pool: CountingPool
) -> None:
    # The repair reply is only given to a prompt that carries the verifier's finding
    # (which names the unknown function; the program text alone does not say "unknown").
    model = scripted(
        tmp_path,
        [
            {"text": fenced(BAD_FN), "match": PROPOSE},
            {"text": fenced(BASELINE), "match": "unknown map function 'matmul_nope'"},
        ],
    )
    store = ExperienceStore(tmp_path / "memory.sqlite")
    results = solve(
        tmp_path / "run",
        model,
        pool,
        store,
        samples=1,
        repair_rounds=2,
        optimise_rounds=0,
        guardian=False,
    )

    entry = results["tasks"][0]
    assert entry["status"] == "passed" and entry["correct"]
    assert entry["best_attempt"] == "r2s0"
    attempts = {a["id"]: a for a in detail(tmp_path / "run")["attempts"]}
    assert attempts["r1s0"]["verdict"]["status"] == "invalid"
    assert attempts["r2s0"]["origin"] == "repair" and attempts["r2s0"]["parent"] == "r1s0"
    repair_prompt = model.prompts[1][-1]["content"]
    assert REPAIR in repair_prompt and "matmul_nope" in repair_prompt
    # Lineage in the store: the passing repair points at the failing proposal.
    recorded = store.attempts(task_key="step/gemm")
    assert [a.status for a in recorded] == ["invalid", "passed"]
    assert recorded[1].parent_id == recorded[0].id
    assert store.best("step/gemm").id == recorded[1].id
    assert model.remaining == 0 and len(pool.verified) == 2


def test_optimise_keeps_the_faster_passing_program(tmp_path: Path, pool: CountingPool) -> None:
    # Round 2 asks for a faster rewrite with the simulator's bottleneck report; round 3
    # gets a rewrite that fails, which must not replace the faster program.
    model = scripted(
        tmp_path,
        [
            {"text": fenced(BASELINE), "match": PROPOSE},
            {"text": fenced(FAST), "match": "wait for on-chip bandwidth"},
            {"text": fenced(BAD_FN), "match": OPTIMISE},
        ],
    )
    store = ExperienceStore(tmp_path / "memory.sqlite")
    results = solve(
        tmp_path / "run",
        model,
        pool,
        store,
        samples=1,
        repair_rounds=1,
        optimise_rounds=2,
        guardian=False,
    )

    entry = results["tasks"][0]
    attempts = {a["id"]: a for a in detail(tmp_path / "run")["attempts"]}
    slow, fast = attempts["r1s0"]["verdict"]["cycles"], attempts["r2s0"]["verdict"]["cycles"]
    assert fast < slow
    assert attempts["r2s0"]["origin"] == "optimise" and attempts["r2s0"]["parent"] == "r1s0"
    assert attempts["r3s0"]["parent"] == "r2s0"  # the next round starts from the faster one
    assert attempts["r3s0"]["verdict"]["status"] == "invalid"
    assert entry["best_attempt"] == "r2s0" and entry["cycles"] == fast
    assert entry["speedup"] == round(entry["baseline_cycles"] / fast, 4)
    assert (tmp_path / "run" / entry["program"]).read_text() == FAST
    optimise_prompt = model.prompts[1][-1]["content"]
    assert OPTIMISE in optimise_prompt and f"cycles: {slow}" in optimise_prompt
    assert store.best("step/gemm").cycles == fast
    assert results["summary"]["fast_2"] == 1.0  # ~3.4x over the baseline


def test_guardian_fixes_a_proposal_that_does_not_validate(
    tmp_path: Path, pool: CountingPool
) -> None:
    model = scripted(
        tmp_path,
        [
            {"text": fenced(TWICE), "match": PROPOSE},
            {"text": fenced(BASELINE), "match": GUARDIAN},
        ],
    )
    store = ExperienceStore(tmp_path / "memory.sqlite")
    results = solve(
        tmp_path / "run",
        model,
        pool,
        store,
        samples=1,
        repair_rounds=0,
        optimise_rounds=0,
        guardian=True,
    )
    assert results["tasks"][0]["status"] == "passed"
    (attempt,) = detail(tmp_path / "run")["attempts"]
    assert attempt["guardian"] == "changed" and attempt["program"] == BASELINE
    # The proposal was checked (invalid: a stream used twice), then the guarded program.
    assert pool.verified == [TWICE, BASELINE]
    assert TWICE.strip() in model.prompts[1][-1]["content"]
    # The guarded program is what the store keeps (the invalid proposal was no attempt).
    assert [a.program for a in store.attempts(task_key="step/gemm")] == [BASELINE]


def test_guardian_is_skipped_when_the_proposal_validates(
    tmp_path: Path, pool: CountingPool
) -> None:
    # No guardian reply is scripted: had the guardian been asked, its call would fail.
    model = scripted(tmp_path, [{"text": fenced(BASELINE), "match": PROPOSE}])
    store = ExperienceStore(tmp_path / "memory.sqlite")
    results = solve(
        tmp_path / "run",
        model,
        pool,
        store,
        samples=1,
        repair_rounds=0,
        optimise_rounds=0,
        guardian=True,
    )
    assert results["tasks"][0]["status"] == "passed"
    (attempt,) = detail(tmp_path / "run")["attempts"]
    assert attempt["guardian"] == "skipped: proposal validates"
    assert len(model.prompts) == 1  # one call: the proposal
    assert pool.verified == [BASELINE]  # its check is reused, not repeated
    assert len(store.attempts(task_key="step/gemm")) == 1


def test_bad_replies_become_failed_attempts_with_reasons(
    tmp_path: Path, pool: CountingPool
) -> None:
    wrong_dialect = "from dsl import sam\n\ndef kernel(a, b):\n    return a\n"
    model = scripted(
        tmp_path,
        [
            {"text": "I am not sure how to write this kernel.", "match": PROPOSE},
            {"text": "```python\n" + BASELINE[: len(BASELINE) // 2], "match": PROPOSE},
            {"text": fenced(wrong_dialect), "match": PROPOSE},
            {"text": fenced(BASELINE) + "x" * 1_000_000, "match": PROPOSE},
            {"error": "503 Service Unavailable", "match": PROPOSE},
        ],
    )
    store = ExperienceStore(tmp_path / "memory.sqlite")
    results = solve(
        tmp_path / "run",
        model,
        pool,
        store,
        samples=5,
        repair_rounds=0,
        optimise_rounds=0,
        guardian=False,
    )

    entry = results["tasks"][0]
    assert entry["status"] == "error" and not entry["correct"] and entry["attempts"] == 5
    feedback = sorted(a["verdict"]["feedback"] for a in detail(tmp_path / "run")["attempts"])
    assert all(f.startswith("no program: ") for f in feedback)
    text = " | ".join(feedback)
    for reason in (
        "no code in the reply",
        "truncated code",
        "written for dialect sam",
        "over the 200 KB limit",
        "503 Service Unavailable",
    ):
        assert reason in text
    assert pool.verified == []  # nothing without a program reaches the verifier
    assert [a.status for a in store.attempts()] == ["error"] * 5


def test_a_reply_without_a_program_is_followed_by_a_fresh_proposal(
    tmp_path: Path, pool: CountingPool
) -> None:
    model = scripted(
        tmp_path,
        [
            {"text": "Sorry, I cannot help with that.", "match": PROPOSE},
            {"text": fenced(BASELINE), "match": PROPOSE},
        ],
    )
    store = ExperienceStore(tmp_path / "memory.sqlite")
    results = solve(
        tmp_path / "run",
        model,
        pool,
        store,
        samples=1,
        repair_rounds=1,
        optimise_rounds=0,
        guardian=False,
    )
    first, second = detail(tmp_path / "run")["attempts"]
    assert "Sorry, I cannot help" in first["verdict"]["feedback"]  # what the model said
    assert second["origin"] == "propose" and second["parent"] is None
    assert results["tasks"][0]["status"] == "passed"


def test_optimising_stops_when_the_rewrites_bring_nothing_new(
    tmp_path: Path, pool: CountingPool
) -> None:
    model = scripted(
        tmp_path,
        [
            {"text": fenced(BASELINE), "match": PROPOSE},
            {"text": fenced(BASELINE), "match": OPTIMISE},
            {"text": fenced(BASELINE), "match": OPTIMISE},
        ],
    )
    store = ExperienceStore(tmp_path / "memory.sqlite")
    solve(
        tmp_path / "run",
        model,
        pool,
        store,
        samples=1,
        repair_rounds=0,
        optimise_rounds=3,
        guardian=False,
    )
    attempts = detail(tmp_path / "run")["attempts"]
    assert [a["id"] for a in attempts] == ["r1s0", "r2s0"]  # one round, then stalled
    assert attempts[1]["duplicate_of"] == "r1s0"
    assert pool.verified == [BASELINE] and model.remaining == 1


def test_a_stored_best_that_no_longer_passes_leads_to_fresh_proposals(
    tmp_path: Path, pool: CountingPool
) -> None:
    # The store believes BAD_FN passed (say, under an older verifier): it is re-verified,
    # fails, and the run proposes anew instead of trusting memory.
    store = ExperienceStore(tmp_path / "memory.sqlite")
    stale = store.record_attempt(
        task=GEMM,
        program=BAD_FN,
        model="old",
        prompt_hash="",
        verdict={"status": "passed", "cycles": 10, "feedback": ""},
    )
    model = scripted(tmp_path, [{"text": fenced(BASELINE), "match": PROPOSE}])
    results = solve(
        tmp_path / "run",
        model,
        pool,
        store,
        samples=1,
        repair_rounds=0,
        optimise_rounds=0,
        guardian=False,
    )
    recalled, proposed = detail(tmp_path / "run")["attempts"]
    assert recalled["origin"] == "recall" and recalled["verdict"]["status"] == "invalid"
    assert store.attempts(run_id=results["run"]["run_id"])[0].parent_id == stale
    assert proposed["origin"] == "propose" and results["tasks"][0]["status"] == "passed"


class RefusingModel:
    """Declines every task with a long reason, as the builtin model does for a task its
    compiler does not cover; counts its calls."""

    name = "refuser"
    stateless = True
    reason = "op 'fft' is not lowered: " + "the compiler knows only gathers and reductions; " * 5

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, messages: Any, **options: Any) -> Reply:
        self.calls += 1
        return Reply(
            text=f"{self.reason}. No program is given.", model=self.name, refusal=self.reason
        )


def test_a_refusal_is_final_not_covered_with_its_whole_reason(
    tmp_path: Path, pool: CountingPool
) -> None:
    model = RefusingModel()
    store = ExperienceStore(tmp_path / "memory.sqlite")
    results = solve(
        tmp_path / "run", model, pool, store, samples=1, repair_rounds=2, guardian=False
    )
    assert model.calls == 1  # neither repaired nor proposed again
    assert pool.verified == []
    entry = results["tasks"][0]
    assert entry["status"] == "not_covered" and not entry["correct"]
    assert entry["feedback"] == RefusingModel.reason  # whole, not cut
    assert [a.status for a in store.attempts()] == ["not_covered"]
