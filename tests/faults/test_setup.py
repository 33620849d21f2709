"""Faults of the set-up around a run: a full disk, a killed verification worker, a store lock
held by another process, and bad configuration files. None may cost results or add store
rows; each failure is one line naming the file and the cause."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memory import store as store_module
from memory.store import ExperienceStore
from tests.agents.test_cli_solve import run_main
from tests.faults.harness import (
    TRIALS,
    Outcome,
    one_line_error,
    outcome,
    record,
    run_solve,
    start_solve,
)


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 160 KiB tmpfs: too small for a run's checkpoints, big enough to start one."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_full_disk_stops_with_one_line_and_resume_loses_nothing(
    small_disk: Path, reference: Outcome
) -> None:
    out, memory = small_disk / "run", small_disk / "memory.sqlite"
    full = run_solve(out, memory)
    assert full.returncode == 1, full.stdout + full.stderr
    line = one_line_error(full)
    assert "disk full" in line or "database or disk is full" in line, line
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    done = run_solve(out, memory)
    assert done.returncode == 0, done.stdout + done.stderr
    lost = outcome(out, memory).lost_or_duplicated(reference)
    record("disk full (160 KiB tmpfs), then space freed and --resume", 1, int(lost == "none"), lost)
    assert lost == "none"


def _workers(group: int) -> list[int]:
    """The run's verification workers (spawned children running multiprocessing's main)."""
    found = subprocess.run(["pgrep", "-g", str(group), "-f", "spawn_main"], capture_output=True)
    return [int(pid) for pid in found.stdout.split()]


@pytest.mark.slow
@pytest.mark.timeout(120 + 120 * TRIALS)
def test_a_killed_worker_is_replaced_and_the_run_ends_as_usual(
    tmp_path: Path, reference: Outcome
) -> None:
    rng = random.Random(5)
    survived, problems = 0, []
    for trial in range(TRIALS):
        out, memory = tmp_path / f"run{trial}", tmp_path / f"memory{trial}.sqlite"
        process = start_solve(out, memory, tmp_path / f"log{trial}")
        killed = None
        deadline = time.monotonic() + 60
        while killed is None and time.monotonic() < deadline and process.poll() is None:
            workers = _workers(process.pid)
            if workers:
                time.sleep(rng.uniform(0.0, 8.0))
                subprocess.run(["kill", "-9", str(workers[0])], check=False)
                killed = workers[0]
            time.sleep(0.05)
        assert process.wait(timeout=600) == 0, (tmp_path / f"log{trial}").read_text()
        lost = outcome(out, memory).lost_or_duplicated(reference)
        survived += lost == "none"
        if lost != "none":
            problems.append(f"worker {killed}: {lost}")
    record(
        "verification worker killed (-9) mid-run", TRIALS, survived, "; ".join(problems) or "none"
    )
    assert not problems


@pytest.mark.slow
def test_a_store_lock_held_longer_than_the_busy_timeout_only_delays_the_run(
    tmp_path: Path, reference: Outcome
) -> None:
    out, memory = tmp_path / "run", tmp_path / "memory.sqlite"
    ExperienceStore(memory).close()
    hold_s = store_module.BUSY_TIMEOUT_S + 5
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "conn.execute('BEGIN IMMEDIATE')\n"
            "print('held', flush=True)\n"
            "time.sleep(float(sys.argv[2]))\n",
            str(memory),
            str(hold_s),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    try:
        done = run_solve(out, memory)
    finally:
        holder.wait(timeout=hold_s + 60)
    assert done.returncode == 0, done.stdout + done.stderr
    lost = outcome(out, memory).lost_or_duplicated(reference)
    record(f"store write lock held {hold_s:.0f} s by another process", 1, int(lost == "none"), lost)
    assert lost == "none"


# ---------------------------------------------------------------- bad configuration (fast)
# In this process (`agent` as `main()`), as these fail before any run starts.


def _fails_in_one_line(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    assert run_main(*args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "internal error" not in err, err
    return err.strip()


def test_invalid_utf8_in_agent_toml_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENT_MODEL", raising=False)
    (tmp_path / ".agent.toml").write_bytes(b'[model]\nname = "\xff\xfe"\n')
    line = _fails_in_one_line(capsys, "solve", "step", "--tasks", "gemm", "--out", "run")
    assert ".agent.toml" in line and "utf-8" in line
    assert not (tmp_path / "run").exists()


def test_an_unusable_sandbox_setting_stops_before_any_model_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENT_SANDBOX", raising=False)
    (tmp_path / ".agent.toml").write_text('[sandbox]\nbackend = "warp-drive"\n')
    queue = tmp_path / "queue"
    line = _fails_in_one_line(
        capsys, "solve", "step", "--tasks", "gemm", "--model", f"queue:{queue}", "--out", "run"
    )
    assert "warp-drive" in line
    assert not queue.exists() or not list(queue.iterdir())  # no prompt was sent


def test_invalid_utf8_in_a_scripted_model_file_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "replies.jsonl"
    script.write_bytes(b'{"text": "\xff"}\n')
    line = _fails_in_one_line(
        capsys,
        "solve",
        "step",
        "--tasks",
        "gemm",
        "--model",
        f"scripted:{script}",
        "--out",
        tmp_path / "run",
    )
    assert str(script) in line and "UTF-8" in line


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[]",
        b'{"run_id": "x"}',
        b'{"run_id": 1, "suite": "s", "tasks": [], "model": "m", "started": 0, "settings": {}}',
    ],
    ids=["not-json", "not-object", "missing-keys", "wrong-types"],
)
def test_a_malformed_run_json_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_bytes(content)
    line = _fails_in_one_line(
        capsys,
        "solve",
        "step",
        "--tasks",
        "gemm",
        "--out",
        out,
        "--resume",
        "--memory",
        tmp_path / "m.sqlite",
    )
    assert f"{out}/run.json: " in line
    assert (out / "run.json").read_bytes() == content  # nothing to rebuild from: left as it was


def test_report_on_a_garbage_results_json_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for content in (b"\xff\xfe\x00garbage", b"[1, 2]", b'{"tasks": [1], "summary": {}}'):
        (tmp_path / "results.json").write_bytes(content)
        assert "results.json: not a results file" in _fails_in_one_line(capsys, "report", tmp_path)


def test_debug_shows_the_traceback_instead_of_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_DEBUG", "")  # restored after the test (--debug sets it)
    (tmp_path / "results.json").write_bytes(b"[1, 2]")
    with pytest.raises(Exception, match="not a results file"):
        run_main("--debug", "report", tmp_path)
