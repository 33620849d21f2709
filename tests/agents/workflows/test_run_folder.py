"""The run folder: run.json on start, one writer, atomic files, damage found and repaired on
resume, and results that only merge forward."""

from __future__ import annotations

import errno
import json
import os
import random
import sqlite3
from pathlib import Path

import pytest

from agents.workflows import results as rs
from agents.workflows import run_folder as rf
from agents.workflows.run import (
    RunError,
    RunOptions,
    memory_path,
    prepare,
)
from agents.workflows.solve import SolveSettings
from benchmarks.task import load_task

GEMM, SILU = load_task("step/gemm"), load_task("step/gemm_silu")


def test_resume_keeps_the_runs_settings_and_tasks(tmp_path: Path) -> None:
    started = RunOptions(out=tmp_path, settings=SolveSettings(samples=3, repair_rounds=5))
    run = prepare(tmp_path, [GEMM, SILU], suite="step", model_spec="builtin", options=started)
    with pytest.raises(RunError, match="already holds a run"):
        prepare(tmp_path, [GEMM, SILU], suite="step", model_spec="builtin", options=started)

    again = RunOptions(out=tmp_path, resume=True, jobs=2, settings=SolveSettings(samples=1))
    with pytest.raises(RunError, match="was a run of 2 tasks, this selects 1"):
        prepare(tmp_path, [GEMM], suite="step", model_spec="x", options=again)
    resumed = prepare(tmp_path, [SILU, GEMM], suite="step", model_spec="x", options=again)
    assert resumed["run_id"] == run["run_id"]
    assert [r["model"] for r in resumed["resumed"]] == ["x"]
    # how each part ran is on record: the first part's jobs stay, the resume has its own
    assert (resumed["jobs"], resumed["resumed"][0]["jobs"]) == (1, 2)
    assert resumed["resumed"][0]["executor"] == "local"
    assert (resumed["settings"]["samples"], resumed["settings"]["repair_rounds"]) == (3, 5)


def test_resume_of_a_folder_without_a_run_is_refused(tmp_path: Path) -> None:
    options = RunOptions(out=tmp_path, resume=True)
    with pytest.raises(RunError, match="holds no run"):
        prepare(tmp_path, [GEMM], suite="step", model_spec="builtin", options=options)


def test_memory_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENT_MEMORY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert memory_path(None) == tmp_path / ".agent" / "memory.sqlite"
    monkeypatch.setenv("AGENT_MEMORY", str(tmp_path / "env.sqlite"))
    assert memory_path(None) == tmp_path / "env.sqlite"
    assert memory_path(tmp_path / "flag.sqlite") == tmp_path / "flag.sqlite"


# ---------------------------------------------------------------- one writer, atomic files


def test_a_second_holder_of_the_folder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    with rf.exclusive(tmp_path):
        # flock is per open file: a second open in this very process conflicts too.
        with pytest.raises(RunError, match=rf"in use by another run \(pid {os.getpid()}\)"):
            with rf.exclusive(tmp_path):
                pass
    with rf.exclusive(tmp_path):  # released when the holder ends
        assert (tmp_path / rf.LOCK_FILE).read_text().strip() == str(os.getpid())


def test_an_atomic_write_that_fails_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "results.json"
    rf.write_json(path, {"solved": 23})

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as raised:
        rf.write_json(path, {"solved": 1})
    assert rf.disk_full(raised.value)
    assert json.loads(path.read_text()) == {"solved": 23}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no partial left


# ---------------------------------------------------------------- damaged run.json


def _started(folder: Path) -> dict:
    options = RunOptions(out=folder)
    return prepare(folder, [GEMM, SILU], suite="step", model_spec="builtin", options=options)


def _resume(folder: Path) -> dict:
    options = RunOptions(out=folder, resume=True)
    return prepare(folder, [GEMM, SILU], suite="step", model_spec="builtin", options=options)


@pytest.mark.parametrize(
    ("content", "cause"),
    [
        (b'{"run_id": "x", ', "run.json: not JSON (Expecting property name"),
        (b"\xff\xfe garbage", "run.json: not JSON (invalid UTF-8 at byte 0)"),
        (b'["step/gemm"]', "run.json: not a JSON object (holds a list)"),
        (b'{"run_id": "x", "suite": "step"}', "run.json: missing tasks, model, started, settings"),
        (
            b'{"run_id": "x", "suite": "step", "tasks": "step/gemm", "model": "m",'
            b' "started": 1, "settings": {}}',
            "run.json: 'tasks' must be a list, not a string",
        ),
        (
            b'{"run_id": 7, "suite": "step", "tasks": [], "model": "m", "started": 1,'
            b' "settings": {}}',
            "run.json: 'run_id' must be a string, not a number",
        ),
    ],
)
def test_a_malformed_run_json_without_results_is_one_line_naming_file_and_cause(
    tmp_path: Path, content: bytes, cause: str
) -> None:
    _started(tmp_path)
    (tmp_path / "run.json").write_bytes(content)
    with pytest.raises(RunError) as raised:
        _resume(tmp_path)
    message = str(raised.value)
    assert f"{tmp_path}/{cause}" in message and "\n" not in message
    assert "no readable results.json to rebuild it from" in message


def _write_results(folder: Path, run: dict, entries: list[dict]) -> None:
    summary = rs.summary(entries, tokens=0, cost_usd=0.0)
    rs.write_results(folder / "results.json", {**run, "updated": 1.0}, entries, summary)


def _passed(task: str, cycles: int, attempts: int = 2) -> dict:
    entry = rs.not_run_entry(task, baseline_cycles=1000)
    entry.update(status="passed", correct=True, cycles=cycles, attempts=attempts, finished=True)
    return entry


def test_a_damaged_run_json_is_rebuilt_from_results_under_the_same_id(tmp_path: Path) -> None:
    run = _started(tmp_path)
    public = {k: v for k, v in run.items() if k != "timing_seed"}  # results.json's copy
    _write_results(tmp_path, public, [_passed("step/gemm", 900)])
    (tmp_path / "run.json").write_text("{garbage")
    resumed = _resume(tmp_path)
    assert resumed["run_id"] == run["run_id"] and resumed["tasks"] == run["tasks"]
    repairs = resumed["resumed"][-1]["repairs"]
    assert any("run.json: not JSON" in r and "rebuilt it from results.json" in r for r in repairs)
    # The secret seed is not in results.json: a new one is drawn, and that is said.
    assert isinstance(resumed["timing_seed"], int)
    assert any("timing seed" in r for r in repairs)
    assert json.loads((tmp_path / "run.json").read_text())["run_id"] == run["run_id"]
    assert [p.read_text() for p in tmp_path.glob("run.json.damaged-*")] == ["{garbage"]


def test_a_missing_run_json_is_rebuilt_and_a_new_run_there_is_refused(tmp_path: Path) -> None:
    run = _started(tmp_path)
    _write_results(tmp_path, run, [_passed("step/gemm", 900)])
    (tmp_path / "run.json").unlink()
    with pytest.raises(RunError, match=r"already holds a run \(results.json\)"):
        _started(tmp_path)  # a new id would silently reuse the old checkpoints
    assert _resume(tmp_path)["run_id"] == run["run_id"]


def test_results_of_another_run_are_not_merged_into_this_one(tmp_path: Path) -> None:
    _started(tmp_path)
    other = {**_started(tmp_path / "other"), "run_id": "someone-else"}
    _write_results(tmp_path, other, [_passed("step/gemm", 900)])
    with pytest.raises(RunError, match="belongs to run someone-else"):
        _resume(tmp_path)


def test_garbage_results_and_checkpoints_are_set_aside_and_said(tmp_path: Path) -> None:
    run = _started(tmp_path)
    (tmp_path / "results.json").write_text('{"tasks": 3}')
    checkpoints = tmp_path / "checkpoints.sqlite"
    with sqlite3.connect(checkpoints) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.executemany("INSERT INTO t VALUES (?)", [(b"x" * 3000,)] * 20)
    data = bytearray(checkpoints.read_bytes())
    data[4096 : 3 * 4096] = random.Random(7).randbytes(2 * 4096)  # garbage pages 2 and 3
    checkpoints.write_bytes(bytes(data))
    resumed = _resume(tmp_path)
    assert resumed["run_id"] == run["run_id"]
    repairs = resumed["resumed"][-1]["repairs"]
    assert any("results.json: not a results file (no summary or run)" in r for r in repairs), (
        repairs
    )
    assert any("checkpoints.sqlite" in r and "set aside" in r for r in repairs), repairs
    assert not checkpoints.exists() and len(list(tmp_path.glob("checkpoints.sqlite.damaged-*")))


def test_lost_checkpoints_are_noticed_when_results_show_work(tmp_path: Path) -> None:
    run = _started(tmp_path)
    _write_results(tmp_path, run, [_passed("step/gemm", 900)])
    repairs = _resume(tmp_path)["resumed"][-1]["repairs"]
    assert any("checkpoints.sqlite: missing" in r for r in repairs), repairs


# ---------------------------------------------------------------- merging forward


def test_an_entry_is_only_replaced_by_one_that_knows_at_least_as_much() -> None:
    fast, slow = _passed("t", 400), _passed("t", 900)
    failed = {**rs.not_run_entry("t"), "status": "incorrect", "attempts": 6, "finished": True}
    cut = {**failed, "attempts": 1, "finished": False}
    not_run = rs.not_run_entry("t")
    assert rs.merge_entry(fast, not_run) is fast  # an interrupted resume reports nothing new
    assert rs.merge_entry(fast, failed) is fast  # a solved task stays solved
    assert rs.merge_entry(fast, slow) is fast and rs.merge_entry(slow, fast) is fast
    assert rs.merge_entry(failed, cut) is failed  # a finished picture beats a cut-short one
    assert rs.merge_entry(cut, failed) is failed
    assert rs.merge_entry(not_run, cut) is cut
    again = dict(fast)
    assert rs.merge_entry(fast, again) is again  # a tie goes to the newer
