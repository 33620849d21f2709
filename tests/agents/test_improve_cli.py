"""`agent improve` and `agent memory ls | prune` on the command line: usage errors are one
line (exit 2) before anything runs; the memory commands read and prune a seeded store."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from agents.cli import main
from memory import ExperienceStore
from tests.memory.task_factory import make_task


def agent(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["agent", *args])
    with pytest.raises(SystemExit) as exited:
        main()
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return exited.value.code or 0, out, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "greedy"], "--mode must be one of adaptive, single, guardian, not 'greedy'"),
        (["--rounds", "0"], "--rounds must be at least 1, got 0"),
        (["--memory", "none"], "--memory none: improve learns from memory; give a store file"),
        (["--max-cost", "-1"], "--max-cost must be >= 0, got -1.0"),
        (["--tasks", "nothing*"], "--tasks 'nothing*' matches no task of step"),
        (["--executor", "cloud"], "--executor must be local or ray, got 'cloud'"),
        (["--address", "ray://x:10001"], "--address is for --executor ray"),
    ],
)
def test_usage_errors_are_one_line(monkeypatch, capsys, tmp_path, args, message):
    code, out, err = agent(
        monkeypatch, capsys, "improve", "step", "--out", str(tmp_path / "out"), *args
    )
    assert (code, err.strip()) == (2, f"agent: {message}")
    assert not (tmp_path / "out").exists()


def test_a_run_keeps_its_mode(monkeypatch, capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    record = {
        "run_id": "improve-1",
        "tasks": ["step/gemm"],
        "model": "builtin",
        "mode": "single",
        "rounds": [],
        "settings": {},
        "timing_seed": 1,
    }
    (out / "improve.json").write_text(json.dumps(record))
    code, _, err = agent(
        monkeypatch, capsys, "improve", "step", "--out", str(out), "--mode", "adaptive"
    )
    assert code == 2
    assert err.strip() == f"agent: {out} is a single run; --mode adaptive needs another --out"


def seeded(path):
    store = ExperienceStore(path)
    task = make_task("softmax")
    old = time.time() - 90 * 86_400
    for i, status in enumerate(("invalid", "incorrect", "passed")):
        store.record_attempt(
            task=task,
            program=f"from dsl import step\n# {i}\n",
            model="m",
            prompt_hash="h",
            verdict={"status": status, "cycles": 250 if status == "passed" else None},
        )
    store.record_baseline(task, 1000)
    store.transaction(lambda conn: conn.execute("UPDATE attempts SET created=?", (old,)))
    return store


def test_memory_ls_and_prune(monkeypatch, capsys, tmp_path):
    path = tmp_path / "m.sqlite"
    seeded(path)
    code, out, _ = agent(monkeypatch, capsys, "memory", "ls", "--memory", str(path), "--json")
    assert code == 0
    (row,) = json.loads(out)
    assert (row["task"], row["attempts"], row["best_cycles"], row["speedup"]) == (
        "step/softmax",
        3,
        250,
        4.0,
    )
    code, out, _ = agent(monkeypatch, capsys, "memory", "ls", "--memory", str(path))
    assert code == 0 and "step/softmax" in out and "4x" in out
    args = ("memory", "prune", "--memory", str(path), "--older-than", "60")
    code, out, _ = agent(monkeypatch, capsys, *args, "--dry-run")
    assert code == 0 and out.startswith("would remove 2 failed attempts older than 60 days")
    assert len(ExperienceStore(path).attempts()) == 3
    code, out, _ = agent(monkeypatch, capsys, *args)
    assert code == 0 and out.startswith("removed 2 failed attempts")
    assert [a.status for a in ExperienceStore(path).attempts()] == ["passed"]


def test_memory_commands_name_what_is_wrong(monkeypatch, capsys, tmp_path):
    missing = tmp_path / "none.sqlite"
    code, _, err = agent(monkeypatch, capsys, "memory", "ls", "--memory", str(missing))
    assert (code, err.strip()) == (
        2,
        f"agent: no experience store at {missing} (set --memory or $AGENT_MEMORY)",
    )
    seeded(tmp_path / "m.sqlite")
    code, _, err = agent(
        monkeypatch,
        capsys,
        "memory",
        "prune",
        "--memory",
        str(tmp_path / "m.sqlite"),
        "--older-than",
        "-1",
    )
    assert (code, err.strip()) == (2, "agent: --older-than must be >= 0 days, got -1.0")


def test_one_process_per_folder(monkeypatch, capsys, tmp_path):
    """A second improve on a folder in use is refused at once (the store itself may be
    shared by any number of runs)."""
    from agents.workflows.run_folder import exclusive

    out = tmp_path / "out"
    with exclusive(out):
        code, _, err = agent(
            monkeypatch,
            capsys,
            "improve",
            "step",
            "--tasks",
            "gemm",
            "--model",
            "builtin",
            "--memory",
            str(tmp_path / "m.sqlite"),
            "--out",
            str(out),
        )
    assert code == 2
    assert err.startswith(f"agent: {out} is in use by another run (pid {os.getpid()})")
    assert not (out / "improve.json").exists()
