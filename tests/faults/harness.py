"""What the fault-injection tests share: `agent solve` as a user runs it, an uninterrupted
reference run to compare with, and the two things a fault must never do — lose or
duplicate work — as comparable data.

The runs use the builtin model (deterministic: the same prompt gets the same program) on
two dense STeP tasks, whose cycles do not depend on the input values, so a run timed on
another secret seed still gives the same numbers. `FAULT_TRIALS` sets how many trials the
slow tests make (default 2); with `FAULT_TABLE=<file>` each test appends its row of the
closing table (fault, trials, survived, lost or duplicated) as one JSON line.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memory.store import ExperienceStore

ROOT = Path(__file__).resolve().parents[2]
TASKS = "gemm_*"  # step/gemm_bias and step/gemm_silu
TRIALS = int(os.environ.get("FAULT_TRIALS", "2"))
# What must survive a fault: every task's figures (not timestamps, costs or paths).
ENTRY_KEYS = ("task", "status", "correct", "cycles", "baseline_cycles", "speedup", "attempts")


def env(**extra: str) -> dict[str, str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **extra}
    full.pop("AGENT_MODEL", None)
    return full


def solve_args(out: Path, memory: Path, *more: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "agents.cli",
        "solve",
        "step",
        "--model",
        "builtin",
        "--tasks",
        TASKS,
        "--jobs",
        "1",
        "--out",
        str(out),
        "--memory",
        str(memory),
        *more,
    ]


def run_solve(out: Path, memory: Path, *more: str) -> subprocess.CompletedProcess[str]:
    """One `agent solve` to its end (resumes when the folder already holds a run)."""
    resume = ("--resume",) if (out / "run.json").exists() else ()
    return subprocess.run(
        solve_args(out, memory, *resume, *more),
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def start_solve(out: Path, memory: Path, log: Path, *more: str) -> subprocess.Popen[bytes]:
    """`agent solve` in its own process group (so its workers can be found and killed)."""
    resume = ("--resume",) if (out / "run.json").exists() else ()
    with log.open("ab") as sink:
        return subprocess.Popen(
            solve_args(out, memory, *resume, *more),
            cwd=ROOT,
            env=env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def holds_lock(out: Path, process: subprocess.Popen[bytes], within_s: float = 60) -> bool:
    """Wait until `process` holds the run folder (its pid in run.lock)."""
    deadline = time.monotonic() + within_s
    lock = out / "run.lock"
    while time.monotonic() < deadline and process.poll() is None:
        if lock.exists() and lock.read_text().strip() == str(process.pid):
            return True
        time.sleep(0.05)
    return False


def kill_group(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    process.wait(timeout=60)


@dataclass(frozen=True)
class Outcome:
    """A run's results and its experience-store rows, as comparable data."""

    entries: tuple[tuple[Any, ...], ...]
    solved: int
    rows: tuple[tuple[Any, ...], ...]  # one per stored attempt (duplicates show as repeats)

    def lost_or_duplicated(self, reference: Outcome) -> str:
        """'none', or what differs from the reference."""
        problems = []
        if self.entries != reference.entries:
            problems.append(f"results differ: {self.entries} != {reference.entries}")
        if len(self.rows) > len(reference.rows):
            problems.append(f"{len(self.rows) - len(reference.rows)} duplicated store rows")
        elif self.rows != reference.rows:
            problems.append(f"store rows differ: {len(self.rows)} vs {len(reference.rows)}")
        return "; ".join(problems) or "none"


def outcome(out: Path, memory: Path) -> Outcome:
    results = json.loads((out / "results.json").read_text())
    entries = tuple(
        tuple(e.get(k) for k in ENTRY_KEYS)
        for e in sorted(results["tasks"], key=lambda e: e["task"])
    )
    store = ExperienceStore(memory)
    try:
        rows = tuple(sorted((a.task_key, a.program, a.status, a.cycles) for a in store.attempts()))
    finally:
        store.close()
    return Outcome(entries, results["summary"]["solved"], rows)


def copy_run(source: tuple[Path, Path], into: Path) -> tuple[Path, Path]:
    """A copy of a finished run folder and its store, to damage."""
    out, memory = source
    into.mkdir(parents=True, exist_ok=True)
    shutil.copytree(out, into / "run")
    for part in memory.parent.glob(memory.name + "*"):
        shutil.copy2(part, into / part.name)
    copies = into / "run", into / memory.name
    for database in (copies[0] / "checkpoints.sqlite", copies[1]):
        # Fold the write-ahead log into the file, so damage to the file is damage to it all.
        with contextlib.closing(sqlite3.connect(database)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return copies


def record(fault: str, trials: int, survived: int, lost: str) -> None:
    """Append this test's row of the closing table (when FAULT_TABLE names a file)."""
    table = os.environ.get("FAULT_TABLE")
    if table:
        with open(table, "a") as sink:
            row = {"fault": fault, "trials": trials, "survived": survived, "lost": lost}
            sink.write(json.dumps(row) + "\n")


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command printed (asserting it is one, and no traceback)."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "internal error" not in lines[0] and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("agent: "), done.stderr
    return lines[0]
