"""`agent solve`'s wiring for honest, resumable runs, in this process with the heavy parts
replaced: the run's secret timing seed reaches the verifier pool on start and on resume,
and a set-up fault ends the command with one line and exit code 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import agents.workflows.run as run_module
import agents.workflows.verify_pool as pool_module
from agents.workflows.run import RunStopped
from tests.agents.test_cli_solve import run_main


class Refused(Exception):
    """Stops the command once the pool was built (no task needs to run for this test)."""


def test_the_runs_timing_seed_reaches_the_pool_on_start_and_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seeds: list[int | None] = []

    class RecordingPool:
        def __init__(self, jobs: int, **options: Any) -> None:
            seeds.append(options.get("timing_seed"))
            raise Refused

    monkeypatch.setattr(pool_module, "VerifierPool", RecordingPool)
    out = tmp_path / "run"
    args = ("solve", "step", "--tasks", "gemm", "--out", out, "--memory", tmp_path / "m.sqlite")
    assert run_main(*args) == 3  # Refused is nobody's known error
    assert run_main(*args, "--resume") == 3
    capsys.readouterr()
    seed = json.loads((out / "run.json").read_text())["timing_seed"]
    assert isinstance(seed, int) and seeds == [seed, seed]


def test_a_set_up_fault_is_one_line_and_exit_code_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def stopped(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise RunStopped("step/gemm: verification worker: the worker died twice")

    monkeypatch.setattr(run_module, "run_suite", stopped)
    code = run_main(
        "solve", "step", "--tasks", "gemm", "--out", tmp_path / "run",
        "--memory", tmp_path / "m.sqlite", "--jobs", "1",
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1, err
    assert err == "agent: step/gemm: verification worker: the worker died twice\n"
