"""Damaged files of a finished run: truncated or garbage run.json, results.json, checkpoints
and experience store. A resume repairs what it can rebuild (saying so on a `repaired:`
line) and ends with the run's results intact; what it cannot rebuild stops it with one
line naming the file, and the run folder keeps what it had."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.faults.harness import (
    TRIALS,
    Outcome,
    copy_run,
    one_line_error,
    outcome,
    record,
    run_solve,
)

PAGE = 4096  # SQLite's default page size, which both stores use


def _truncate(path: Path, rng: random.Random) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: rng.randrange(1, max(2, len(data) - 100))])


def _garbage(path: Path, rng: random.Random) -> None:
    """Random bytes over a random stretch; for a database, over whole pages past the first
    (the header stays valid, so only reading those pages finds the damage)."""
    data = bytearray(path.read_bytes())
    if path.suffix == ".sqlite":
        pages = len(data) // PAGE
        first = rng.randrange(1, max(2, pages - 1))
        start, length = first * PAGE, PAGE * min(2, pages - first)
    else:
        start = rng.randrange(0, max(1, len(data) // 2))
        length = min(len(data) - start, rng.randrange(16, 4096))
    data[start : start + length] = rng.randbytes(length)
    path.write_bytes(bytes(data))


DAMAGE = {"truncated": _truncate, "garbage": _garbage}
RUN_FILES = ["run.json", "results.json", "checkpoints.sqlite"]


@pytest.mark.slow
@pytest.mark.timeout(120 + 90 * TRIALS)
@pytest.mark.parametrize("name", RUN_FILES)
@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_damaged_run_file_is_rebuilt_and_nothing_is_lost(
    tmp_path: Path, reference_run: tuple[Path, Path], reference: Outcome, name: str, how: str
) -> None:
    problems = []
    for trial in range(TRIALS):
        out, memory = copy_run(reference_run, tmp_path / f"t{trial}")
        DAMAGE[how](out / name, random.Random(f"{name}{how}{trial}"))
        done = run_solve(out, memory)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "internal error" not in done.stderr
        lost = outcome(out, memory).lost_or_duplicated(reference)
        if lost != "none":
            problems.append(f"trial {trial}: {lost}")
    record(
        f"{how} {name}, then --resume",
        TRIALS,
        TRIALS - len(problems),
        "; ".join(problems) or "none",
    )
    assert not problems


@pytest.mark.slow
@pytest.mark.timeout(120 + 90 * TRIALS)
@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_damaged_experience_store_stops_with_one_line_naming_it(
    tmp_path: Path, reference_run: tuple[Path, Path], how: str
) -> None:
    said = set()
    for trial in range(TRIALS):
        out, memory = copy_run(reference_run, tmp_path / f"t{trial}")
        DAMAGE[how](memory, random.Random(f"{how}{trial}"))
        before = (out / "results.json").read_bytes()
        done = run_solve(out, memory)
        if done.returncode == 0:  # the damage missed every page the run reads and writes
            said.add("damage not on a page in use: resumed")
            continue
        line = one_line_error(done)
        assert done.returncode == 1 and str(memory) in line, line
        assert (out / "results.json").read_bytes() == before  # the run's results kept
        said.add("stopped with one line naming the store")
    record(
        f"{how} experience store, then --resume",
        TRIALS,
        TRIALS,
        f"none ({'; '.join(sorted(said))})",
    )
