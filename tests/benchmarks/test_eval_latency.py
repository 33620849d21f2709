"""`benchmarks.perf.eval_latency --suites`: one `agent eval` per task, as a user runs it."""

from __future__ import annotations

import json
import subprocess

import pytest

from benchmarks.perf import eval_latency
from benchmarks.task import load_task


def _fake_run(stdout: str, stderr: str = "", code: int = 0):
    def run(command, **kwargs):
        assert command[1:4] == ["-m", "agents.cli", "eval"] and command[-1] == "--json"
        assert kwargs["env"]["PYTHONPATH"] == str(kwargs["cwd"])
        return subprocess.CompletedProcess(command, code, stdout, stderr)

    return run


def test_a_row_holds_the_verdict_the_command_printed(monkeypatch, tmp_path) -> None:
    phases = {"sandbox": 0.2, "check": 0.3, "simulate": 0.1, "total": 0.6}
    verdict = {"status": "passed", "cycles": 1366, "baseline_cycles": 1366, "seconds": phases}
    monkeypatch.setattr(subprocess, "run", _fake_run("log line\n" + json.dumps(verdict)))
    row = eval_latency.eval_task(load_task("step/gemm"), tmp_path)
    assert row["task"] == "step/gemm" and row["status"] == "passed"
    assert row["cycles"] == 1366 and row["baseline_cycles"] == 1366 and row["seconds"] == phases
    assert row["wall_s"] >= 0 and row["cpu_s"] >= 0


def test_a_command_that_prints_no_verdict_says_why(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(subprocess, "run", _fake_run("", "Traceback\nImportError: no torch", 1))
    row = eval_latency.eval_task(load_task("step/gemm"), tmp_path)
    assert row["status"] == "no verdict (exit 1): ImportError: no torch"
    assert row["cycles"] is None


def test_the_program_is_taken_from_the_checkout_that_runs(monkeypatch, tmp_path) -> None:
    seen = []
    monkeypatch.setattr(
        subprocess, "run", lambda cmd, **kw: seen.append(cmd) or _fake_run("{}")(cmd, **kw)
    )
    eval_latency.eval_task(load_task("step/gemm"), tmp_path)
    assert seen[0][5] == str(tmp_path / "benchmarks" / "step" / "baselines" / "gemm.py")
    # a task outside its dialect's suite folder is named by its file, not its key
    eval_latency.eval_task(load_task("sam_new/segment_min"), tmp_path)
    assert seen[1][4] == str(tmp_path / "benchmarks" / "sam_new" / "segment_min.toml")


def test_summary_by_hand(monkeypatch) -> None:
    walls = iter([0.5, 3.0, 1.5])
    monkeypatch.setattr(
        eval_latency,
        "eval_task",
        lambda task, root: {"task": task.key, "wall_s": next(walls), "cpu_s": 0.1},
    )
    result = eval_latency.suite_latency(["step"], "gemm*", eval_latency.CHECKOUT)
    assert [r["task"] for r in result["tasks"]] == ["step/gemm", "step/gemm_bias", "step/gemm_silu"]
    assert result["max_wall_s"] == 3.0 and result["median_wall_s"] == 1.5
    assert result["over_target"] == 2


def test_the_table_splits_the_wall_time(capsys) -> None:
    row = {"task": "step/gemm", "wall_s": 4.0, "cpu_s": 3.5, "status": "passed"}
    phases = {"sandbox": 0.5, "check": 0.25, "simulate": 0.125, "total": 1.0}
    result = {"root": "r", "tasks": [row | {"seconds": phases}, row | {"status": "error"}]}
    result |= {"max_wall_s": 4.0, "median_wall_s": 4.0, "over_target": 2}
    eval_latency._print_suite_latency(result | {"load_before": 1.0, "load_after": 1.0})
    lines = capsys.readouterr().out.splitlines()
    want = ["0.50", "0.25", "0.12", "0.12", "3.00", "passed"]  # 1.0 s in all: 0.125 loading
    assert lines[2].split() == ["step/gemm", "4.00", "3.50", *want]
    assert lines[3].split()[3:] == ["0.00", "0.00", "0.00", "0.00", "4.00", "error"]


@pytest.mark.slow
def test_one_real_eval(capsys) -> None:
    eval_latency.main(["--suites", "step", "--only", "gemm", "--json"])
    result = json.loads(capsys.readouterr().out)
    (row,) = result["tasks"]
    assert row["status"] == "passed" and row["cycles"] == row["baseline_cycles"]
    assert row["wall_s"] > 0 and row["cpu_s"] > 0 and result["max_wall_s"] == row["wall_s"]
