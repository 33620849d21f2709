"""Faults of the set-up stop the run with one line; they are never a program's verdict.

A pool that raises what the verifier raises for a broken set-up (a sandbox configuration
error, a worker that died twice, a full disk, a broken store) must stop the run before the
model is asked to "repair" anything, leave no verdict in the store, and leave the attempt
pending in the checkpoints, so that `--resume` on a sound set-up checks that same program
without asking the model for it again.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import pytest

from agents.models import ModelConfigError
from agents.workflows import attempts as at
from agents.workflows.run import RunStopped, setup_fault
from agents.workflows.solve import SolveSettings, TaskSolver
from agents.workflows.verify_pool import WorkerDied
from benchmarks.task import Task, load_task
from memory.store import ExperienceStore, StoreError
from sandbox.backends import SandboxConfigError
from tests.agents.workflows.conftest import (
    BASELINE,
    GEMM,
    PROPOSE,
    CountingPool,
    fenced,
    scripted,
    solve,
)

FAULTS = [
    (SandboxConfigError("sandbox backend 'docker' (set by .agent.toml) cannot run"), "sandbox"),
    (WorkerDied("the verification worker died twice during the check"), "worker died twice"),
    (OSError(errno.ENOSPC, "No space left on device", "/tmp/x/verdict"), "disk full writing"),
    (StoreError("experience store /m.sqlite: database or disk is full"), "experience store"),
]
# One proposal, repairs allowed (a fault must not lead to one), no optimisation.
ONE_SAMPLE = {"samples": 1, "guardian": False, "optimise_rounds": 0}


class BrokenSetUp:
    """A pool whose every check raises `fault` (the baseline is not measured)."""

    def __init__(self, fault: Exception) -> None:
        self.fault, self.calls = fault, 0

    def verify(self, task: Task, source: str) -> dict[str, Any]:
        self.calls += 1
        raise self.fault

    def baseline_cycles(self, task: Task) -> int | None:
        return None


@pytest.mark.parametrize(("fault", "said"), FAULTS, ids=[type(f).__name__ for f, _ in FAULTS])
def test_a_set_up_fault_stops_the_run_and_is_never_a_verdict(
    tmp_path: Path, pool: CountingPool, fault: Exception, said: str
) -> None:
    model = scripted(tmp_path, [{"text": fenced(BASELINE), "match": PROPOSE}])
    store = ExperienceStore(tmp_path / "memory.sqlite")
    broken = BrokenSetUp(fault)
    with pytest.raises(RunStopped) as raised:
        solve(tmp_path / "run", model, broken, store, **ONE_SAMPLE)  # type: ignore[arg-type]
    assert raised.value.args[0].startswith("step/gemm: ") and said in str(raised.value)
    assert "\n" not in str(raised.value)
    assert broken.calls == 1 and len(model.prompts) == 1  # no repair was asked for
    assert store.attempts() == []  # nothing recorded as the program's verdict
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["summary"]["stopped"].startswith("set-up fault: ")
    assert "timing_seed" not in results["run"]  # the secret stays in run.json
    assert results["tasks"][0]["status"] != "error" and not results["tasks"][0]["finished"]

    # On a sound set-up the resume checks the very program that was pending: the script
    # held one reply, so a second request for a proposal would fail the attempt.
    resumed = solve(tmp_path / "run", model, pool, store, **ONE_SAMPLE, resume=True)
    assert pool.verified == [BASELINE] and len(model.prompts) == 1
    assert resumed["tasks"][0]["status"] == "passed" and resumed["tasks"][0]["finished"]
    assert [a.status for a in store.attempts()] == ["passed"]


def test_only_set_up_faults_are_classified_as_such() -> None:
    for fault, said in FAULTS:
        assert said in (setup_fault(fault) or "")
    assert setup_fault(ValueError("a bug")) is None
    assert setup_fault(OSError(errno.EACCES, "Permission denied")) is None


def test_an_identical_program_is_checked_again_after_a_set_up_verdict(tmp_path: Path) -> None:
    """Runs started by earlier versions may hold a crashed check as an `error` verdict in
    their checkpoints: a later identical program must not inherit it."""
    solver = TaskSolver(
        GEMM,
        _NoModel(),  # type: ignore[arg-type]
        ExperienceStore(tmp_path / "m.sqlite"),
        None,  # type: ignore[arg-type]
        SolveSettings(samples=1),
        run_id="r",
    )
    crashed = {
        "status": "error",
        "correct": False,
        "cycles": None,
        "feedback": "verifier failed: BrokenProcessPool: a worker died",
    }
    wrong = {"status": "incorrect", "correct": False, "cycles": None, "feedback": "off by one"}

    def attempt(id_: str, round_: int, verdict: dict | None) -> at.Attempt:
        return {"id": id_, "round": round_, "index": 0, "program": BASELINE, "verdict": verdict}

    plan = solver.collect(
        {"attempts": {"r1s0": attempt("r1s0", 1, crashed), "r2s0": attempt("r2s0", 2, None)}}
    )
    assert [step["payload"]["id"] for step in plan["plan"]] == ["r2s0"] and not plan["attempts"]
    reused = solver.collect(
        {"attempts": {"r1s0": attempt("r1s0", 1, wrong), "r2s0": attempt("r2s0", 2, None)}}
    )
    assert reused["plan"] == [] and reused["attempts"] == {"r2s0": {"duplicate_of": "r1s0"}}


class _NoModel:
    name = "none"

    def complete(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("collect must not call the model")


class RefusedKey:
    """A model whose provider refuses the key: every call would fail the same way."""

    name = "openai/gpt-4o"

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, messages: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise ModelConfigError("openai/gpt-4o: AuthenticationError: bad key (check OPENAI_API_KEY)")


def test_a_refused_key_stops_the_run_after_one_call(tmp_path: Path, pool: CountingPool) -> None:
    model = RefusedKey()
    store = ExperienceStore(tmp_path / "memory.sqlite")
    tasks = [GEMM, load_task("step/gemm_bias")]
    with pytest.raises(RunStopped) as raised:
        solve(tmp_path / "run", model, pool, store, tasks=tasks, **ONE_SAMPLE)
    assert str(raised.value) == (
        "step/gemm: openai/gpt-4o: AuthenticationError: bad key (check OPENAI_API_KEY)"
    )
    assert model.calls == 1 and pool.verified == [] and store.attempts() == []
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["summary"]["stopped"].startswith("set-up fault: ")
    assert [t["status"] for t in results["tasks"]] == ["pending", "not_run"]  # never reached
