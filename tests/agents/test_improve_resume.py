"""Kill `agent improve` with SIGKILL mid-round, twice, and run it again: it resumes with
nothing lost (every attempt in the rounds' files is in the store, and the other way round)
and nothing duplicated (one stored row per attempt), and ends as an uninterrupted run does.

The run is a real subprocess (tests/agents/improve_driver.py: the CLI with the example
learner as its model, slowed to 0.3 s a call so the kills land inside rounds)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from memory import ExperienceStore

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def start(out: Path, memory: Path) -> subprocess.Popen:
    args = [
        sys.executable,
        "-m",
        "tests.agents.improve_driver",
        "step",
        "--tasks",
        "gemm*",
        "--model",
        "learner:0.3",
        "--rounds",
        "3",
        "--samples",
        "1",
        "--repair-rounds",
        "0",
        "--optimise-rounds",
        "1",
        "--memory",
        str(memory),
        "--out",
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def kill_when(process: subprocess.Popen, ready, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"ended before the kill: {process.communicate()[0]}"
        assert time.monotonic() < deadline, "the kill point never came"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def rounds_planned(out: Path) -> int:
    try:
        return len(json.loads((out / "improve.json").read_text())["rounds"])
    except (OSError, ValueError):
        return 0


def test_kill_anywhere_and_run_again(tmp_path):
    out, memory = tmp_path / "out", tmp_path / "memory.sqlite"
    # Kill 1: inside round 1, after its first task was written.
    kill_when(start(out, memory), lambda: (out / "rounds/1/results.json").exists())
    # Kill 2: once round 2 is planned and its solve run has started.
    kill_when(
        start(out, memory),
        lambda: rounds_planned(out) == 2 and (out / "rounds/2/checkpoints.sqlite").exists(),
    )
    final = start(out, memory)
    text, _ = final.communicate(timeout=600)
    assert final.returncode == 0, text
    assert "continuing run" in text

    record = json.loads((out / "improve.json").read_text())
    assert [r["status"] for r in record["rounds"]] == ["done"] * 3
    assert [r["pass_rate"] for r in record["rounds"]] == [0.3333, 1.0, 1.0]
    assert [r["newly_solved"] for r in record["rounds"]] == [
        ["step/gemm"],
        ["step/gemm_bias", "step/gemm_silu"],
        [],
    ]

    store = ExperienceStore(memory)
    stored = store.attempts()
    in_files = []
    for detail in sorted((out / "rounds").glob("*/tasks/step/*.json")):
        for attempt in json.loads(detail.read_text())["attempts"]:
            in_files.append(attempt["store_id"])
    # Nothing lost: every attempt the rounds kept is stored, and every stored attempt is
    # one the rounds kept. Nothing duplicated: one row each.
    assert sorted(in_files) == sorted(a.id for a in stored)
    rows = Counter((a.run_id, a.task_key, a.program, a.round) for a in stored)
    assert max(rows.values()) == 1
    runs = {json.loads((out / f"rounds/{n}/run.json").read_text())["run_id"] for n in (1, 2, 3)}
    assert {a.run_id for a in stored} == runs
    # The model's attempts of an uninterrupted run (see test_improve.py): round 1 three
    # proposals and gemm's optimisation; round 2 a proposal and an optimisation for each of
    # gemm_bias and gemm_silu; round 3 their optimisations (their best, re-verified first,
    # is the store's: model "memory").
    per_round = Counter(a.run_id for a in stored if a.model != "memory")
    assert sorted(per_round.values()) == [2, 4, 4]
