from __future__ import annotations

import pytest

from memory import ExperienceStore
from memory.selection import hard_earned_examples, selection_ladder, strata_thresholds
from tests.memory.task_factory import make_task


@pytest.mark.parametrize(
    ("counts", "groups", "expected"),
    [
        ([1, 1, 2, 5, 8, 9], 3, [1, 5, 9]),
        ([9, 0, 1, 5, 2, 8, 1, 0], 3, [1, 5, 9]),  # unsolved tasks (0) are not strata
        ([3, 3, 3], 3, [3]),  # ties cannot be split
        ([4], 3, [4]),
        ([1, 2, 3, 4], 1, [4]),
        ([1, 2, 3, 4], 2, [2, 4]),
        ([], 3, []),
        ([0, 0], 3, []),
    ],
)
def test_strata_thresholds(counts, groups, expected):
    assert strata_thresholds(counts, groups) == expected


def test_groups_must_be_positive():
    with pytest.raises(ValueError):
        strata_thresholds([1], 0)


def _solve(store, name, successes, lengths, dialect="step", failures=2):
    task = make_task(name, dialect=dialect)
    for i in range(failures):
        store.record_attempt(
            task=task,
            program=f"# fail {i}",
            model="m",
            prompt_hash="h",
            verdict={"status": "incorrect", "cycles": None},
        )
    for i in range(successes):
        pad = "#" * lengths[i % len(lengths)]
        store.record_attempt(
            task=task,
            program=f"from dsl import {dialect}\nx = {i}\n{pad}\n",
            model="m",
            prompt_hash="h",
            verdict={"status": "passed", "cycles": 100 - i},
        )


def test_ladder_starts_with_the_hard_earned(tmp_path):
    store = ExperienceStore(tmp_path / "m.sqlite")
    _solve(store, "hard", 1, [30])
    _solve(store, "medium", 2, [50, 5])
    _solve(store, "easy", 5, [40, 20])
    _solve(store, "unsolved", 0, [1])
    _solve(store, "sam_task", 1, [1], dialect="sam")
    assert store.success_counts("step") == {"step/easy": 5, "step/hard": 1, "step/medium": 2}
    assert store.success_counts() == {**store.success_counts("step"), "sam/sam_task": 1}

    ladder = selection_ladder(store, "step")
    assert [[a.task_key for a in rung] for rung in ladder] == [
        ["step/hard"],
        ["step/medium", "step/hard"],  # shortest program first
        ["step/medium", "step/easy", "step/hard"],
    ]
    medium = ladder[1][0]
    assert medium.program.count("#") == 5 and medium.verified  # its shortest program
    assert hard_earned_examples(store, "step", 0) == []
    assert selection_ladder(store, "dae") == []


def test_counts_are_of_distinct_programs_written_by_models(tmp_path):
    """A program found again, or a stored program re-verified by a later run (model
    "memory"), is no new success: counted, every task that runs often would look easy."""
    store = ExperienceStore(tmp_path / "m.sqlite")
    task = make_task("hard")
    for run_id, model in (("r1", "m"), ("r2", "m"), ("r3", "memory"), ("r4", "memory")):
        store.record_attempt(
            task=task,
            program="from dsl import step\n# the one solution\n",
            model=model,
            prompt_hash="h",
            verdict={"status": "passed", "cycles": 10},
            run_id=run_id,
        )
    assert store.success_counts() == {"step/hard": 1}
