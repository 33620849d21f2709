"""The run folder: run.json on start, refusing to overwrite, and what a resume keeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.workflows.run import (
    DEFAULT_MEMORY,
    RunError,
    RunOptions,
    memory_path,
    prepare,
    resumed_settings,
)
from agents.workflows.solve import SolveSettings
from benchmarks.task import load_task

GEMM, SILU = load_task("step/gemm"), load_task("step/gemm_silu")


def test_resume_keeps_the_runs_settings_and_tasks(tmp_path: Path) -> None:
    started = RunOptions(out=tmp_path, settings=SolveSettings(samples=3, repair_rounds=5))
    run = prepare(tmp_path, [GEMM, SILU], suite="step", model_spec="builtin", options=started)
    with pytest.raises(RunError, match="already holds a run"):
        prepare(tmp_path, [GEMM, SILU], suite="step", model_spec="builtin", options=started)

    again = RunOptions(out=tmp_path, resume=True, settings=SolveSettings(samples=1))
    with pytest.raises(RunError, match="was a run of 2 tasks, this selects 1"):
        prepare(tmp_path, [GEMM], suite="step", model_spec="x", options=again)
    resumed = prepare(tmp_path, [SILU, GEMM], suite="step", model_spec="x", options=again)
    assert resumed["run_id"] == run["run_id"]
    assert [r["model"] for r in resumed["resumed"]] == ["x"]
    settings = resumed_settings(resumed, guardian=False)
    assert (settings.samples, settings.repair_rounds, settings.guardian) == (3, 5, False)


def test_resume_of_a_folder_without_a_run_is_refused(tmp_path: Path) -> None:
    options = RunOptions(out=tmp_path, resume=True)
    with pytest.raises(RunError, match="holds no run"):
        prepare(tmp_path, [GEMM], suite="step", model_spec="builtin", options=options)


def test_memory_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENT_MEMORY", raising=False)
    assert memory_path(None) == DEFAULT_MEMORY.expanduser()
    monkeypatch.setenv("AGENT_MEMORY", str(tmp_path / "env.sqlite"))
    assert memory_path(None) == tmp_path / "env.sqlite"
    assert memory_path(tmp_path / "flag.sqlite") == tmp_path / "flag.sqlite"
