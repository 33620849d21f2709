"""How `agent improve` plans its rounds, over a store seeded with known programs (no model,
no verifier): stratified, hard-earned and shortest examples first; widening and rising
temperature when a round adds nothing; the stop rules; results merged over rounds."""

from __future__ import annotations

import json

import pytest

from agents.workflows import improve as im
from agents.workflows import results as rs
from agents.workflows.run import RunError
from agents.workflows.solve import SolveSettings
from memory import ExperienceStore
from tests.memory.task_factory import make_task


def task(name: str, op: str = "softmax"):
    return make_task(name, description=f"The {name} kernel.", spec={"fn": op})


HARD, MEDIUM, EASY, UNSOLVED = (task(n) for n in ("hard", "medium", "easy", "unsolved"))
TASKS = [HARD, MEDIUM, EASY, UNSOLVED]


def solve(store, t, programs: list[str], cycles: int = 100) -> list[int]:
    """Record each program as verified (one run each: distinct attempts)."""
    return [
        store.record_attempt(
            task=t,
            program=f"from dsl import step\n{body}\n",
            model="m",
            prompt_hash="h",
            verdict={"status": "passed", "cycles": cycles - i},
            run_id=f"seed-{t.name}-{i}",
        )
        for i, body in enumerate(programs)
    ]


@pytest.fixture
def store(tmp_path):
    store = ExperienceStore(tmp_path / "m.sqlite")
    solve(store, HARD, ["# the only solution, long " + "#" * 20])
    solve(store, MEDIUM, ["# medium, the long one " + "#" * 30, "# short"])
    solve(store, EASY, ["# e" + "#" * n for n in (12, 4, 9, 30, 7)])
    store.record_attempt(
        task=UNSOLVED,
        program="from dsl import step\nbroken\n",
        model="m",
        prompt_hash="h",
        verdict={"status": "invalid", "cycles": None},
    )
    store.record_baseline(EASY, 10_000)  # easy is 100x faster than its baseline: done
    return store


def record(mode: str = "adaptive", max_rounds: int = 9) -> dict:
    return {"rounds": [], "mode": mode, "groups": 3, "max_rounds": max_rounds}


def after(rec: dict, plan: dict, *, gained: bool) -> None:
    plan.update(status="done", gained=gained)
    rec["rounds"].append(plan)


def shown(store, plan) -> list[str]:
    return [store.get(i).program.splitlines()[1] for i in plan["examples"]["step"]]


def test_hard_earned_shortest_first_then_wider_and_hotter(store):
    rec = record()
    first = im.plan_round(1, rec, store, TASKS)
    # Easy is solved and 100x faster than its baseline: not retried. The others are
    # (unsolved, or solved with no baseline to say they are fast).
    assert first["tasks"] == ["step/hard", "step/medium", "step/unsolved"]
    assert (first["step"], first["temperature"]) == (0, 0.4)
    # Strata by distinct verified programs: hard 1, medium 2, easy 5.
    assert shown(store, first) == ["# the only solution, long " + "#" * 20]
    after(rec, first, gained=False)
    second = im.plan_round(2, rec, store, TASKS)
    assert (second["step"], second["temperature"]) == (1, 0.7)
    assert shown(store, second) == ["# short", "# the only solution, long " + "#" * 20]
    after(rec, second, gained=False)
    third = im.plan_round(3, rec, store, TASKS)
    assert (third["step"], third["temperature"]) == (2, 1.0)
    assert shown(store, third)[0] == "# short"  # shortest first, easy's shortest too
    assert "# e####" in shown(store, third)
    after(rec, third, gained=False)
    assert im.plan_round(4, rec, store, TASKS) is None
    assert rec["stopped"] == "the widest selection at the highest temperature added nothing"


def test_a_round_that_adds_something_starts_again_from_the_hardest(store):
    rec = record()
    after(rec, im.plan_round(1, rec, store, TASKS), gained=False)
    second = im.plan_round(2, rec, store, TASKS)
    after(rec, second, gained=True)
    third = im.plan_round(3, rec, store, TASKS)
    assert (third["step"], third["temperature"]) == (0, 0.4)
    assert len(third["examples"]["step"]) == 1


def test_the_plan_keeps_what_memory_knew_before_the_round(store):
    plan = im.plan_round(1, record(), store, TASKS)
    assert plan["known_before"] == {
        "step/hard": 100,
        "step/medium": 99,
        "step/easy": 96,
        "step/unsolved": None,
    }


@pytest.mark.parametrize(("mode", "temperature"), [("single", 1.0), ("guardian", 0.5)])
def test_comparison_modes_show_no_examples(store, mode, temperature):
    rec = record(mode)
    for number in (1, 2, 3, 4, 5):  # no widening rule: they run all their rounds
        plan = im.plan_round(number, rec, store, TASKS)
        assert (plan["temperature"], plan["examples"]) == (temperature, {})
        after(rec, plan, gained=False)


def test_rounds_and_work_run_out(store, tmp_path):
    rec = record(max_rounds=1)
    after(rec, im.plan_round(1, rec, store, TASKS), gained=True)
    assert im.plan_round(2, rec, store, TASKS) is None
    assert rec["stopped"] == "all 1 rounds done"
    assert im.plan_round(1, record(), store, [EASY]) is None
    empty = ExperienceStore(tmp_path / "empty.sqlite")
    plan = im.plan_round(1, record(), empty, TASKS)
    assert plan["examples"] == {} and len(plan["tasks"]) == 4


def test_a_round_shows_only_its_selection_and_nothing_unrelated(store):
    fft = task("fft", op="fourier")
    (fft_id,) = solve(store, fft, ["# fft"])
    selection = {
        "step": [
            store.get(i)
            for i in (*im.plan_round(1, record(), store, TASKS)["examples"]["step"], fft_id)
        ]
    }
    view = im.SelectedExamples(store, selection, pairs=False)
    assert [a.task_key for a in view.recall(UNSOLVED)] == ["step/hard"]  # fft: below the floor
    assert view.recall(UNSOLVED, k=0) == []
    assert view.recall(make_task("x", dialect="sam")) == []
    assert view.recall_pair(UNSOLVED) is None
    assert view.best("step/easy").cycles == 96


def _round_results(out, number: int, entries: list[dict]) -> None:
    folder = im.round_folder(out, number)
    rs.write_results(folder / "results.json", {"run_id": f"r{number}"}, entries, {})


def entry(key: str, cycles: int | None, **extra) -> dict:
    return rs.not_run_entry(key) | {
        "status": "passed" if cycles else "invalid",
        "correct": bool(cycles),
        "cycles": cycles,
        "attempts": 1,
        "program": f"programs/{key}.py" if cycles else None,
        "detail": f"tasks/{key}.json",
        **extra,
    }


def test_results_keep_each_tasks_best_round(tmp_path):
    rec = {
        "run_id": "improve-x",
        "suites": ["step"],
        "model": "m",
        "mode": "adaptive",
        "tasks": ["step/a", "step/b", "step/c"],
        "rounds": [
            {"round": 1, "status": "done", "tokens": 10, "cost_usd": 0.5},
            {"round": 2, "status": "done", "tokens": 5, "cost_usd": 0.25},
            {"round": 3, "status": "planned"},
        ],
        "stopped": None,
    }
    _round_results(tmp_path, 1, [entry("step/a", 900), entry("step/b", None)])
    _round_results(tmp_path, 2, [entry("step/a", 300), entry("step/b", 500)])
    _round_results(tmp_path, 3, [entry("step/a", 800)])  # slower: not kept
    results = im.write_results(tmp_path, rec)
    got = {e["task"]: e for e in results["tasks"]}
    assert (got["step/a"]["cycles"], got["step/a"]["round"]) == (300, 2)
    assert got["step/a"]["program"] == "rounds/2/programs/step/a.py"
    assert got["step/b"]["detail"] == "rounds/2/tasks/step/b.json"
    assert got["step/c"]["status"] == rs.NOT_RUN
    summary = results["summary"]
    assert (summary["solved"], summary["total"], summary["rounds"]) == (2, 3, 2)
    assert (summary["tokens"], summary["cost_usd"]) == (15, 0.75)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["rounds"] == rec["rounds"]


def test_a_folder_is_one_improve_run(tmp_path, store):
    options = im.ImproveOptions(out=tmp_path / "out", settings=SolveSettings(samples=1))
    first = im.start_or_resume(options.out, TASKS, suites=["step"], model_spec="m", options=options)
    again = im.start_or_resume(options.out, TASKS, suites=["step"], model_spec="m", options=options)
    assert again["run_id"] == first["run_id"] and again["settings"]["samples"] == 1
    with pytest.raises(RunError, match="improves 4 other tasks"):
        im.start_or_resume(options.out, TASKS[:2], suites=["step"], model_spec="m", options=options)
    (options.out / im.IMPROVE_FILE).write_text("{not json")
    with pytest.raises(RunError, match="improve.json: cannot be read as an improve run"):
        im.start_or_resume(options.out, TASKS, suites=["step"], model_spec="m", options=options)
    solved = tmp_path / "solve-run"
    solved.mkdir()
    (solved / "run.json").write_text("{}")
    with pytest.raises(RunError, match="already holds a solve run"):
        im.start_or_resume(solved, TASKS, suites=["step"], model_spec="m", options=options)
