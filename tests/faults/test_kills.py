"""SIGKILL and SIGINT at random points of `agent solve`, then `--resume`: the results and the
experience store end exactly as after an uninterrupted run (nothing lost, nothing twice),
and a resume of a finished run that is interrupted leaves its results as they were."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from tests.faults.harness import (
    TRIALS,
    Outcome,
    copy_run,
    holds_lock,
    kill_group,
    one_line_error,
    outcome,
    record,
    run_solve,
    start_solve,
)

KILLS_PER_CHAIN = 3
REFERENCE_RUN_S = 15.0  # about how long the uninterrupted run takes on a quiet machine


@pytest.mark.slow
@pytest.mark.timeout(120 + 180 * TRIALS)
def test_kill_9_at_random_points_then_resume(tmp_path: Path, reference: Outcome) -> None:
    rng = random.Random(17)
    survived, problems = 0, []
    for trial in range(TRIALS):
        base = tmp_path / f"chain{trial}"
        base.mkdir()
        out, memory = base / "run", base / "memory.sqlite"
        delays = [round(rng.uniform(0.5, REFERENCE_RUN_S), 1) for _ in range(KILLS_PER_CHAIN)]
        for delay in delays:
            process = start_solve(out, memory, base / "log")
            time.sleep(delay)
            kill_group(process)  # the whole group: the run, its workers, its sandboxes
        done = run_solve(out, memory)
        assert done.returncode == 0, (delays, done.stdout, done.stderr)
        lost = outcome(out, memory).lost_or_duplicated(reference)
        survived += lost == "none"
        if lost != "none":
            problems.append(f"kills at {delays} s: {lost}")
    record(
        f"kill -9 ({KILLS_PER_CHAIN} per chain), then --resume",
        TRIALS,
        survived,
        "; ".join(problems) or "none",
    )
    assert not problems


@pytest.mark.slow
@pytest.mark.timeout(120 + 90 * TRIALS)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupting_a_resume_of_a_finished_run_keeps_its_results(
    tmp_path: Path, reference_run: tuple[Path, Path], reference: Outcome, sig: signal.Signals
) -> None:
    rng = random.Random(int(sig))
    survived, problems = 0, []
    for trial in range(TRIALS):
        out, memory = copy_run(reference_run, tmp_path / f"t{trial}")
        process = start_solve(out, memory, tmp_path / f"t{trial}.log")
        assert holds_lock(out, process)
        time.sleep(rng.uniform(0.0, 3.0))
        kill_group(process, sig)
        after = outcome(out, memory)  # what the interrupted resume left
        lost = after.lost_or_duplicated(reference)
        done = run_solve(out, memory)  # and a resume after it still finishes the same
        assert done.returncode == 0, done.stderr
        lost_after = outcome(out, memory).lost_or_duplicated(reference)
        ok = lost == lost_after == "none"
        survived += ok
        if not ok:
            problems.append(f"trial {trial}: {lost}; after resume: {lost_after}")
    record(
        f"{sig.name} during a resume of a finished run",
        TRIALS,
        survived,
        "; ".join(problems) or "none",
    )
    assert not problems


@pytest.mark.slow
def test_a_second_concurrent_resume_is_refused_naming_the_holder(
    tmp_path: Path, reference: Outcome
) -> None:
    """The first resume waits on the queue model (a prompt nobody answers), so it holds the
    folder for as long as the second one needs to start, however loaded the machine."""
    out, memory = tmp_path / "run", tmp_path / "memory.sqlite"
    waiting = ("--model", f"queue:{tmp_path / 'queue'}", "--samples", "1")  # last one wins
    started = start_solve(out, memory, tmp_path / "first.log", *waiting)
    assert holds_lock(out, started)
    deadline = time.monotonic() + 60
    while not (out / "run.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    kill_group(started)  # a run cut short: its resume has work left
    assert (out / "run.json").exists()
    first = start_solve(out, memory, tmp_path / "first.log", *waiting)
    try:
        assert holds_lock(out, first)
        second = run_solve(out, memory)
        assert second.returncode == 2, second.stdout
        line = one_line_error(second)
        assert f"{out} is in use by another run (pid {first.pid})" in line
        assert first.poll() is None
    finally:
        kill_group(first)
    done = run_solve(out, memory)  # the builtin model finishes what the queue never got
    assert done.returncode == 0, done.stdout + done.stderr
    lost = outcome(out, memory).lost_or_duplicated(reference)
    record("two concurrent resumes of one folder", 1, int(lost == "none"), lost)
    assert lost == "none"
