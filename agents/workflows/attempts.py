"""The attempts a solve run makes on one task, as plain JSON-able records.

They live in the langgraph state (checkpointed as data, so a resumed run sees exactly what
was verified) and are copied into the experience store. An attempt is one program: who
wrote it (`origin`), from which earlier attempt (`parent`), and its verdict.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypedDict


class Origin(StrEnum):
    """Where an attempt's program came from."""

    RECALL = "recall"  # the store's best program for this task, re-verified
    PROPOSE = "propose"  # a fresh sample (proposer, then guardian)
    REPAIR = "repair"  # a fix of a failing parent, fed its verdict
    OPTIMISE = "optimise"  # a rewrite of the best passing parent, fed its bottleneck
    TUNE = "tune"  # the best passing parent with its declared parameters tuned (agents.tuning)


PENDING = "pending"  # a program not verified yet


class RunAttempt(TypedDict, total=False):
    id: str  # "r<round>s<index>": stable across resumes
    round: int
    index: int
    origin: str  # an Origin value
    parent: str | None  # id of the attempt this one repairs or optimises
    parent_store_id: int | None  # that attempt's id in the experience store
    program: str | None
    reason: str  # why there is no program (its verdict is then an "error" saying so)
    model: str
    prompt_hash: str
    prompt: list[dict[str, str]]  # the messages sent, without the system turn
    reply: str  # the model's reply text, as received
    tokens: int
    tokens_estimated: bool  # some of `tokens` were estimated from text (queue backend)
    cost_usd: float
    seconds: float
    guardian: str  # what the guardian pass did: skipped, unchanged, changed, failed: ...
    verdict: dict[str, Any] | None
    duplicate_of: str | None  # an earlier attempt with the same program (verdict copied)
    store_id: int | None


def merge_attempts(old: dict[str, RunAttempt], new: dict[str, RunAttempt]) -> dict[str, RunAttempt]:
    """State reducer: parallel nodes each add or complete their own attempts."""
    merged = dict(old or {})
    for key, fields in (new or {}).items():
        merged[key] = {**merged.get(key, {}), **fields}  # type: ignore[typeddict-item]
    return merged


def no_program_verdict(task_key: str, reason: str) -> dict[str, Any]:
    """The verdict of a reply that held no usable program: an `error`, as the verifier
    gives a program without a kernel, so the store and results know one set of statuses."""
    return {
        "task": task_key,
        "status": "error",
        "correct": False,
        "cycles": None,
        "feedback": f"no program: {reason}",
    }


NOT_COVERED = "not_covered"
"""A model's refusal (the builtin compilers' `NotCovered`): final, never repaired or retried,
since asking again gets the same answer."""


def refusal_verdict(task_key: str, reason: str) -> dict[str, Any]:
    """The verdict of a reply that declined the task; the feedback is the whole reason."""
    return {
        "task": task_key,
        "status": NOT_COVERED,
        "correct": False,
        "cycles": None,
        "feedback": reason,
    }


def status(attempt: RunAttempt) -> str:
    verdict = attempt.get("verdict")
    return verdict["status"] if verdict else PENDING


def report(attempt: RunAttempt) -> dict[str, Any]:
    """The attempt's verdict for a repair or optimise prompt (without the bulky timeline)."""
    return {k: v for k, v in (attempt.get("verdict") or {}).items() if k != "timeline"}


LEGACY_SETUP_FAULT = "verifier failed:"
"""How earlier versions of the workflow wrote a crashed check as a verdict; checkpoints of
runs started then may still hold such verdicts."""


def reusable(attempt: RunAttempt) -> bool:
    """Whether an identical program may take this attempt's verdict instead of a check.

    Not when the verdict stood for a fault of the set-up (a dead worker, a broken sandbox):
    that said nothing about the program, so the program is checked again.
    """
    verdict = attempt.get("verdict") or {}
    return not (
        verdict.get("status") == "error"
        and str(verdict.get("feedback", "")).startswith(LEGACY_SETUP_FAULT)
    )


def cycles(attempt: RunAttempt) -> int | None:
    verdict = attempt.get("verdict") or {}
    return verdict.get("cycles")


def passed(attempt: RunAttempt) -> bool:
    return status(attempt) == "passed" and cycles(attempt) is not None


def ordered(attempts: dict[str, RunAttempt]) -> list[RunAttempt]:
    return sorted(attempts.values(), key=lambda a: (a["round"], a["index"]))


def best(attempts: dict[str, RunAttempt]) -> RunAttempt | None:
    """The fastest passing attempt; the earliest among equals (a rewrite must be faster)."""
    winners = [a for a in ordered(attempts) if passed(a)]
    return min(winners, key=lambda a: cycles(a)) if winners else None  # type: ignore[arg-type,return-value]


def outcome(attempts: dict[str, RunAttempt]) -> tuple[str, RunAttempt | None]:
    """The task's status and the attempt that stands for it.

    Passed if any attempt passed; otherwise the status of the latest attempt with a
    verdict (the furthest the repairs got), preferring one that had a program.
    """
    winner = best(attempts)
    if winner is not None:
        return "passed", winner
    done = [a for a in ordered(attempts) if a.get("verdict")]
    with_program = [a for a in done if a.get("program") is not None]
    last = (with_program or done or [None])[-1]
    return (status(last) if last else PENDING), last
