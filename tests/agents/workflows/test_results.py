"""results.json figures: fast_p, geometric-mean speedup and task entries, hand-computed."""

from __future__ import annotations

import json
import math

import pytest

from agents.workflows import results as rs
from agents.workflows.attempts import RunAttempt


def _entry(task: str, correct: bool, speedup: float | None) -> dict:
    return {
        "task": task,
        "status": "passed" if correct else "incorrect",
        "correct": correct,
        "speedup": speedup,
        "attempts": 2,
        "tokens": 10,
        "cost_usd": 0.5,
    }


ENTRIES = [
    _entry("a", True, 3.0),
    _entry("b", True, 1.5),
    _entry("c", True, 0.5),
    _entry("d", False, None),
    _entry("e", True, 2.0),
]


def test_fast_p_counts_correct_and_strictly_faster_over_all_tasks() -> None:
    assert rs.fast_p(ENTRIES, 0.0) == pytest.approx(4 / 5)
    assert rs.fast_p(ENTRIES, 1.0) == pytest.approx(3 / 5)  # 3.0, 1.5, 2.0
    assert rs.fast_p(ENTRIES, 2.0) == pytest.approx(1 / 5)  # 2.0 is not > 2
    assert rs.fast_p([], 1.0) == 0.0


def test_geomean_is_over_correct_tasks_only() -> None:
    expected = (3.0 * 1.5 * 0.5 * 2.0) ** 0.25
    assert rs.geomean_speedup(ENTRIES) == pytest.approx(expected)
    assert rs.geomean_speedup([_entry("d", False, None)]) is None


def test_summary_fields() -> None:
    summary = rs.summary(ENTRIES, tokens=50, cost_usd=2.5, stopped=None)
    assert summary["solved"] == 4 and summary["total"] == 5
    assert summary["fast_1"] == 0.6 and summary["fast_2"] == 0.2
    assert summary["geomean_speedup"] == pytest.approx(
        math.exp(sum(math.log(s) for s in (3.0, 1.5, 0.5, 2.0)) / 4), abs=1e-4
    )
    assert summary["attempts"] == 10 and summary["tokens"] == 50


def _attempt(id_: str, round_: int, index: int, status: str, cycles: int | None) -> RunAttempt:
    return {
        "id": id_,
        "round": round_,
        "index": index,
        "origin": "propose",
        "program": "p",
        "tokens": 5,
        "cost_usd": 0.25,
        "verdict": {"status": status, "cycles": cycles, "feedback": f"fb {id_}"},
    }


def test_task_entry_takes_the_fastest_pass_and_the_speedup_over_the_baseline() -> None:
    attempts = {
        "r1s0": _attempt("r1s0", 1, 0, "passed", 400),
        "r1s1": _attempt("r1s1", 1, 1, "incorrect", None),
        "r2s0": _attempt("r2s0", 2, 0, "passed", 250),
        "r3s0": _attempt("r3s0", 3, 0, "passed", 250),
    }  # a tie keeps the earlier
    entry = rs.task_entry("step/x", attempts, 1000, program_file="programs/step/x.py")
    assert entry["status"] == "passed" and entry["correct"]
    assert entry["cycles"] == 250 and entry["best_attempt"] == "r2s0"
    assert entry["speedup"] == 4.0
    assert entry["attempts"] == 4 and entry["passed_attempts"] == 3
    assert entry["tokens"] == 20 and entry["cost_usd"] == 1.0


def test_task_entry_of_an_unsolved_task_reports_the_latest_failure() -> None:
    attempts = {
        "r1s0": _attempt("r1s0", 1, 0, "invalid", None),
        "r2s0": _attempt("r2s0", 2, 0, "incorrect", None),
    }
    entry = rs.task_entry("step/x", attempts, 1000)
    assert entry["status"] == "incorrect" and not entry["correct"]
    assert entry["cycles"] is None and entry["speedup"] is None
    assert entry["feedback"] == "fb r2s0"


def test_write_results_is_valid_json(tmp_path) -> None:
    path = tmp_path / "results.json"
    rs.write_results(path, {"run_id": "x"}, ENTRIES, rs.summary(ENTRIES, tokens=0, cost_usd=0))
    data = json.loads(path.read_text())
    assert set(data) == {"run", "tasks", "summary"}
    assert not (tmp_path / "results.json.partial").exists()


def test_solutions_recalled_from_memory_are_counted_apart() -> None:
    recalled = {**_attempt("r0s0", 0, 0, "passed", 300), "origin": "recall", "tokens": 0}
    improved = {"r0s0": recalled, "r1s0": _attempt("r1s0", 1, 0, "passed", 200)}
    slower = {"r0s0": recalled, "r1s0": _attempt("r1s0", 1, 0, "passed", 400)}
    failed = {"r1s0": _attempt("r1s0", 1, 0, "invalid", None)}
    entries = [
        rs.task_entry("step/a", {"r0s0": recalled}, 600),
        rs.task_entry("step/b", improved, 600),  # the model beat what memory held: new
        rs.task_entry("step/c", slower, 600),  # memory's program still stands: memory
        rs.task_entry("step/d", failed, 600),
        rs.not_run_entry("step/e"),
    ]
    assert [e["source"] for e in entries] == ["memory", "new", "memory", None, None]
    summary = rs.summary(entries, tokens=0, cost_usd=0)
    assert (summary["solved"], summary["solved_new"], summary["solved_from_memory"]) == (3, 1, 2)


def test_estimated_tokens_are_flagged_in_the_entry_and_the_summary() -> None:
    counted = {"r1s0": _attempt("r1s0", 1, 0, "passed", 300)}
    estimated = {"r1s0": {**_attempt("r1s0", 1, 0, "passed", 300), "tokens_estimated": True}}
    plain = rs.task_entry("step/a", counted, 600)
    guessed = rs.task_entry("step/b", estimated, 600)
    assert not plain["tokens_estimated"] and guessed["tokens_estimated"]
    assert not rs.summary([plain], tokens=5, cost_usd=0)["tokens_estimated"]
    assert rs.summary([plain, guessed], tokens=10, cost_usd=0)["tokens_estimated"]
