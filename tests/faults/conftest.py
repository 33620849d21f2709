"""The uninterrupted reference run every fault is compared with (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.harness import Outcome, outcome, run_solve


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A finished run folder and its store, never touched by a fault (copy before damaging)."""
    base = tmp_path_factory.mktemp("reference")
    out, memory = base / "run", base / "memory.sqlite"
    done = run_solve(out, memory)
    assert done.returncode == 0, done.stdout + done.stderr
    return out, memory


@pytest.fixture(scope="session")
def reference(reference_run: tuple[Path, Path]) -> Outcome:
    found = outcome(*reference_run)
    assert found.solved == len(found.entries) == 2 and len(found.rows) >= 2
    return found
