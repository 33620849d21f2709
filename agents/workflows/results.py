"""`results.json`: one entry per task and a summary (the contract in DESIGN section 6).

    {"run": {...}, "tasks": [{"task", "status", "correct", "cycles", "baseline_cycles",
     "speedup", ...}], "summary": {"solved", "total", "fast_1", "fast_2",
     "geomean_speedup", "tokens", "cost_usd", ...}}

fast_p is KernelBench's: the fraction of *all* tasks that are correct and more than p
times faster than the baseline (so a task that was not reached counts against it). The
geometric-mean speedup is over the correct tasks that have a baseline.

Where a solution came from is kept apart: a task's `source` is "memory" when the program
that stands for it is the experience store's, re-verified (no model wrote anything this
run), else "new"; the summary counts `solved_new` and `solved_from_memory`, so a model
benchmark is not flattered by what an earlier run found. Tokens that a backend estimated
rather than counted make `tokens_estimated` true, in the entry and in the summary.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from agents.workflows import attempts as at
from agents.workflows.attempts import RunAttempt
from agents.workflows.run_folder import read_results as check_results
from agents.workflows.run_folder import write_json

NOT_RUN = "not_run"  # the run stopped (budget, interrupt) before reaching the task


def task_entry(
    task_key: str,
    attempts: dict[str, RunAttempt],
    baseline_cycles: int | None,
    *,
    program_file: str | None = None,
) -> dict[str, Any]:
    """A task's line in results.json, from its attempts."""
    status, stands_for = at.outcome(attempts)
    correct = status == "passed"
    cycles = at.cycles(stands_for) if (stands_for and correct) else None
    speedup = (baseline_cycles / cycles) if (correct and baseline_cycles and cycles) else None
    listed = at.ordered(attempts)
    entry: dict[str, Any] = {
        "task": task_key,
        "status": status,
        "correct": correct,
        "cycles": cycles,
        "baseline_cycles": baseline_cycles,
        "speedup": round(speedup, 4) if speedup is not None else None,
        "attempts": len(listed),
        "passed_attempts": sum(1 for a in listed if at.passed(a)),
        "tokens": sum(a.get("tokens", 0) for a in listed),
        "cost_usd": round(sum(a.get("cost_usd", 0.0) for a in listed), 6),
        "tokens_estimated": any(a.get("tokens_estimated") for a in listed),
        "source": _source(stands_for) if correct else None,
        "best_attempt": stands_for["id"] if (stands_for and correct) else None,
        "store_id": stands_for.get("store_id") if stands_for else None,
        "program": program_file,
    }
    if not correct and stands_for is not None:
        entry["feedback"] = (stands_for.get("verdict") or {}).get("feedback", "")
    return entry


def _source(attempt: RunAttempt | None) -> str:
    return "memory" if attempt and attempt.get("origin") == at.Origin.RECALL.value else "new"


def not_run_entry(task_key: str, baseline_cycles: int | None = None) -> dict[str, Any]:
    return {
        "task": task_key,
        "status": NOT_RUN,
        "correct": False,
        "cycles": None,
        "baseline_cycles": baseline_cycles,
        "speedup": None,
        "attempts": 0,
        "passed_attempts": 0,
        "tokens": 0,
        "tokens_estimated": False,
        "cost_usd": 0.0,
        "source": None,
        "best_attempt": None,
        "store_id": None,
        "program": None,
    }


def fast_p(entries: list[dict[str, Any]], p: float) -> float:
    """Fraction of all tasks that are correct with speedup > p."""
    if not entries:
        return 0.0
    hits = sum(1 for e in entries if e["correct"] and e["speedup"] is not None and e["speedup"] > p)
    return hits / len(entries)


def geomean_speedup(entries: list[dict[str, Any]]) -> float | None:
    speedups = [e["speedup"] for e in entries if e["correct"] and e["speedup"]]
    if not speedups:
        return None
    return math.exp(sum(math.log(s) for s in speedups) / len(speedups))


def summary(
    entries: list[dict[str, Any]], *, tokens: int, cost_usd: float, stopped: str | None = None
) -> dict[str, Any]:
    geomean = geomean_speedup(entries)
    return {
        "solved": sum(1 for e in entries if e["correct"]),
        "solved_new": sum(1 for e in entries if e["correct"] and e.get("source") != "memory"),
        "solved_from_memory": sum(
            1 for e in entries if e["correct"] and e.get("source") == "memory"
        ),
        "total": len(entries),
        "fast_1": round(fast_p(entries, 1.0), 4),
        "fast_2": round(fast_p(entries, 2.0), 4),
        "geomean_speedup": round(geomean, 4) if geomean is not None else None,
        "attempts": sum(e["attempts"] for e in entries),
        "tokens": tokens,
        "tokens_estimated": any(e.get("tokens_estimated") for e in entries),
        "cost_usd": round(cost_usd, 6),
        "stopped": stopped,
    }


def merge_entry(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The entry results.json keeps for a task when a resume produces `new`.

    Results only move forward: a correct entry beats an incorrect one, a faster correct one
    beats a slower, a finished one beats one cut short; a tie goes to the newer. So a
    resume that is interrupted, or rebuilt from damaged checkpoints, never reports fewer
    solved tasks (or slower ones) than the run already had.
    """

    def rank(entry: dict[str, Any]) -> tuple[bool, float, bool]:
        if entry["status"] == NOT_RUN:
            return (False, -math.inf, False)
        cycles = entry.get("cycles") if entry["correct"] else None
        return (bool(entry["correct"]), -(cycles or 0), bool(entry.get("finished", True)))

    return new if rank(new) >= rank(old) else old


def write_results(
    path: Path, run: dict[str, Any], entries: list[dict[str, Any]], summary_: dict[str, Any]
) -> None:
    """Write atomically and durably: a reader (or a killed run) never sees half a file."""
    write_json(path, {"run": run, "tasks": entries, "summary": summary_})


def read_results(path: Path) -> dict[str, Any]:
    """results.json, checked (`run_folder.DamagedFile` names the file and the cause)."""
    return check_results(path)
