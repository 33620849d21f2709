from __future__ import annotations

import sqlite3

import pytest

from memory import ExperienceStore, StoreError, default_store_path
from tests.memory.task_factory import make_task


def passed(cycles: int, **extra) -> dict:
    return {"status": "passed", "correct": True, "cycles": cycles, "feedback": "", **extra}


def failed(status: str = "incorrect", feedback: str = "output y differs") -> dict:
    return {"status": status, "correct": False, "cycles": None, "feedback": feedback}


def program(body: str = "return x", dialect: str = "step") -> str:
    return f"from dsl import {dialect}\n\n\ndef kernel(x):\n    {body}\n"


@pytest.fixture
def store(tmp_path):
    return ExperienceStore(tmp_path / "memory.sqlite")


def record(store, task, prog, verdict, **kwargs):
    return store.record_attempt(
        task=task, program=prog, model="m", prompt_hash="h", verdict=verdict, **kwargs
    )


def test_file_is_in_wal_mode(store):
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_round_trip_of_an_attempt(store):
    task = make_task()
    verdict = passed(
        640,
        metrics={"utilization": 0.5},
        floor_cycles=100.0,
        bottleneck="compute-bound",
        timeline=[["x", 0, 1]],
    )
    attempt_id = store.record_attempt(
        task=task,
        program=program(),
        model="openai/gpt-4o",
        prompt_hash="abc",
        verdict=verdict,
        tokens=1234,
        cost_usd=0.012,
        seconds=3.5,
        run_id="run-1",
    )
    (attempt,) = store.attempts()
    assert attempt.id == attempt_id and attempt.task_key == "step/softmax_rows"
    assert (attempt.model, attempt.prompt_hash, attempt.status, attempt.correct) == (
        "openai/gpt-4o",
        "abc",
        "passed",
        True,
    )
    assert attempt.cycles == 640 and attempt.bottleneck == "compute-bound"
    assert attempt.metrics == {"utilization": 0.5, "floor_cycles": 100.0}
    assert (attempt.tokens, attempt.cost_usd, attempt.seconds, attempt.run_id) == (
        1234,
        0.012,
        3.5,
        "run-1",
    )
    assert attempt.task_description == task.description and attempt.verified


def test_verdict_object_with_to_json_is_accepted(store):
    class Verdict:
        def to_json(self):
            return passed(10)

    record(store, make_task(), program(), Verdict())
    assert store.best("step/softmax_rows").cycles == 10


def test_best_is_the_fastest_verified_then_shortest(store):
    task = make_task()
    record(store, task, program("return step.slow(x)"), passed(900))
    fast_long = record(store, task, program("y = step.fast(x)\n    return y"), passed(300))
    record(store, task, program("return step.broken(x)"), failed())
    record(store, task, program("return step.hack(x)"), failed("rejected", "cycles below floor"))
    assert store.best(task.key).id == fast_long
    fast_short = record(store, task, program("return step.fast(x)"), passed(300))
    assert store.best(task.key).id == fast_short
    record(store, task, program("return step.slower(x)"), passed(301))
    assert store.best(task.key).id == fast_short
    assert store.best("step/never_seen") is None


def test_failures_never_become_best(store):
    task = make_task()
    for status in ("incorrect", "invalid", "error", "timeout", "rejected"):
        record(store, task, program(), failed(status))
    assert store.best(task.key) is None
    assert store.recall(task) == []


@pytest.mark.parametrize(
    ("verdict", "reason"),
    [
        ({"status": "great", "correct": True, "cycles": 1}, "status 'great' is not one of"),
        (
            {"status": "incorrect", "correct": True, "cycles": 1},
            "correct=True with status 'incorrect'",
        ),
        ({"status": "passed", "correct": False, "cycles": 1}, "correct=False with status 'passed'"),
        ({"status": "passed", "correct": True, "cycles": None}, "must carry its cycles"),
        ({"status": "passed", "correct": True, "cycles": -5}, "non-negative"),
        ({"status": "passed", "correct": True, "cycles": "fast"}, "non-negative"),
        ({"status": "passed", "correct": True, "cycles": float("nan")}, "non-negative"),
        ({"status": "passed", "correct": True, "cycles": float("inf")}, "non-negative"),
        ("passed", "must be a dict"),
    ],
)
def test_inconsistent_verdicts_are_refused(store, verdict, reason):
    with pytest.raises(ValueError, match=reason):
        record(store, make_task(), program(), verdict)
    assert store.attempts() == []  # nothing half-written


def test_lineage(store):
    task = make_task()
    root = record(store, task, program("return step.bad(x)"), failed())
    repaired = record(store, task, program("return step.ok(x)"), passed(500), parent_id=root)
    faster = record(store, task, program("return step.fast(x)"), passed(200), parent_id=repaired)
    other = record(store, task, program("return x"), failed())
    assert [a.id for a in store.lineage(faster)] == [root, repaired, faster]
    assert [a.id for a in store.lineage(other)] == [other]
    assert store.get(repaired).parent_id == root
    with pytest.raises(ValueError, match="parent attempt 999 does not exist"):
        record(store, task, program(), failed(), parent_id=999)


def test_attempts_filter_by_task_and_run(store):
    a, b = make_task("a_task"), make_task("b_task")
    record(store, a, program(), failed(), run_id="r1")
    record(store, b, program(), failed(), run_id="r1")
    record(store, a, program(), passed(5), run_id="r2")
    assert [x.task_key for x in store.attempts(run_id="r1")] == ["step/a_task", "step/b_task"]
    assert [x.run_id for x in store.attempts(task_key="step/a_task")] == ["r1", "r2"]
    assert len(store.attempts(task_key="step/a_task", run_id="r2")) == 1
    assert len(store.attempts()) == 3


def test_stats(store):
    a, b = make_task("a_task"), make_task("b_task", dialect="sam")
    record(store, a, program(), failed(), run_id="r1", tokens=100, cost_usd=0.5)
    record(store, a, program(), passed(5), run_id="r1", round=2, tokens=50, cost_usd=0.25)
    record(store, b, program(dialect="sam"), failed("timeout"), run_id="r2")
    stats = store.stats()
    assert (stats["tasks"], stats["solved"], stats["attempts"], stats["runs"]) == (2, 1, 3, 2)
    assert stats["by_status"]["incorrect"] == 1 and stats["by_status"]["timeout"] == 1
    assert stats["by_model"]["m"] == {"attempts": 3, "passed": 1, "tokens": 150, "cost_usd": 0.75}
    assert stats["by_dialect"] == {
        "sam": {"tasks": 1, "solved": 0},
        "step": {"tasks": 1, "solved": 1},
    }
    assert (stats["tokens"], stats["cost_usd"]) == (150, 0.75)


def test_reopening_keeps_everything(tmp_path):
    path = tmp_path / "sub" / "m.sqlite"
    record(ExperienceStore(path), make_task(), program(), passed(7))
    again = ExperienceStore(path)
    assert again.best("step/softmax_rows").cycles == 7
    assert again.recall(make_task())[0].cycles == 7


def test_unusable_path_is_a_store_error(tmp_path):
    (tmp_path / "not_a_db").write_text("this is not sqlite " * 100)
    with pytest.raises(StoreError, match="not_a_db"):
        ExperienceStore(tmp_path / "not_a_db")


def test_default_path(monkeypatch, tmp_path):
    monkeypatch.setenv("AGENT_MEMORY", str(tmp_path / "x.sqlite"))
    assert default_store_path() == tmp_path / "x.sqlite"
    monkeypatch.delenv("AGENT_MEMORY")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_store_path() == tmp_path / ".agent" / "memory.sqlite"


def test_numpy_metrics_are_stored_as_numbers(store):
    import numpy as np

    verdict = passed(np.int64(12), metrics={"bytes": np.int64(4096), "util": np.float32(0.5)})
    record(store, make_task(), program(), verdict)
    (attempt,) = store.attempts()
    assert attempt.cycles == 12 and attempt.metrics == {"bytes": 4096, "util": 0.5}


def test_a_store_sent_to_another_process_works_there(store):
    import pickle
    from concurrent.futures import ProcessPoolExecutor

    record(store, make_task(), program(), passed(3))
    clone = pickle.loads(pickle.dumps(store))
    assert clone.path == store.path and clone.best("step/softmax_rows").cycles == 3
    with ProcessPoolExecutor(1) as pool:
        assert pool.submit(_best_cycles, store).result() == 3


def _best_cycles(store: ExperienceStore) -> int:
    return store.best("step/softmax_rows").cycles
