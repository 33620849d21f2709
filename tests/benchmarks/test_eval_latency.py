"""`benchmarks.perf.eval_latency --suites`: one `agent eval` per task, as a user runs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

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


def test_a_shared_baseline_is_evaluated_at_the_tasks_values(monkeypatch, tmp_path) -> None:
    """The checkout's shared file, with the task's `baseline_params` as its defaults."""
    task = load_task("sam/bigbird_attention_b16")
    shared = tmp_path / "benchmarks" / "sam" / task.baseline
    shared.parent.mkdir(parents=True)
    shared.write_text((task.folder / task.baseline).read_text())
    texts = []

    def run(command, **kwargs):
        texts.append(Path(command[5]).read_text())
        return _fake_run("{}")(command, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    eval_latency.eval_task(task, tmp_path)
    assert texts == [task.baseline_source()]
    assert texts[0].endswith("kernel = sam.tunable.with_defaults(kernel, block=16)\n")


def test_summary_by_hand(monkeypatch) -> None:
    walls, warm = iter([0.5, 3.0, 1.5]), iter([0.25, 1.25, None])
    monkeypatch.setattr(
        eval_latency,
        "task_latency",
        lambda task, root: {
            "task": task.key,
            "wall_s": next(walls),
            "cpu_s": 0.1,
            "warm_wall_s": next(warm),
        },
    )
    stopped = []
    monkeypatch.setattr(eval_latency, "_run_in", lambda root, command: stopped.append(command))
    result = eval_latency.suite_latency(["step"], "gemm*", eval_latency.CHECKOUT)
    assert [r["task"] for r in result["tasks"]] == ["step/gemm", "step/gemm_bias", "step/gemm_silu"]
    assert stopped[0][-2:] == ["eval", "--stop-server"]  # the server the cold calls started
    assert result["max_wall_s"] == 3.0 and result["median_wall_s"] == 1.5
    assert result["over_target"] == 2
    assert result["max_warm_wall_s"] == 1.25 and result["warm_over_target"] == 1


def test_cold_then_warm_once_the_server_answers(monkeypatch, tmp_path) -> None:
    """In a checkout with the eval server: stop it, a cold call, wait for the server, a warm
    call whose CPU time counts the server's child; in one without: the cold call only."""
    calls = []

    def run_in(root, command):
        calls.append(command[2:])
        return subprocess.CompletedProcess(command, 0, "4321\n" if command[1] == "-c" else "", "")

    monkeypatch.setattr(eval_latency, "_run_in", run_in)
    monkeypatch.setattr(
        eval_latency,
        "eval_task",
        lambda task, root, server=None: {
            "task": task.key,
            "wall_s": 1,
            "cpu_s": 1,
            "status": server,
        },
    )
    (tmp_path / "agents").mkdir()
    row = eval_latency.task_latency(load_task("step/gemm"), tmp_path)
    assert row["warm_wall_s"] is None and not calls  # no agents/launch.py there
    (tmp_path / "agents" / "launch.py").write_text("")
    row = eval_latency.task_latency(load_task("step/gemm"), tmp_path)
    assert calls[0] == ["agents.launch", "eval", "--stop-server"] and "ping" in calls[1][0]
    assert row["status"] is None and row["warm_status"] == 4321 and row["warm_wall_s"] == 1


def test_the_table_splits_the_wall_time(capsys) -> None:
    row = {"task": "step/gemm", "wall_s": 4.0, "cpu_s": 3.5, "status": "passed"}
    phases = {"sandbox": 0.5, "check": 0.25, "simulate": 0.125, "total": 1.0}
    warm = {"warm_wall_s": 0.5, "warm_cpu_s": 0.4, "warm_status": "passed"}
    result = {"root": "r", "tasks": [row | {"seconds": phases} | warm, row | {"status": "error"}]}
    result |= {"max_wall_s": 4.0, "median_wall_s": 4.0, "over_target": 2}
    result |= {"max_warm_wall_s": 0.5, "warm_over_target": 0}
    eval_latency._print_suite_latency(result | {"load_before": 1.0, "load_after": 1.0})
    lines = capsys.readouterr().out.splitlines()
    want = ["0.50", "0.25", "0.12", "0.12", "3.00", "0.50", "0.40", "passed"]  # 0.125 loading
    assert lines[2].split() == ["step/gemm", "4.00", "3.50", *want]
    assert lines[3].split()[3:] == ["0.00", "0.00", "0.00", "0.00", "4.00", "-", "-", "error"]
    assert "warm max 0.50 s, 0 over" in lines[4]


@pytest.mark.slow
def test_one_real_eval(capsys) -> None:
    eval_latency.main(["--suites", "step", "--only", "gemm", "--json"])
    result = json.loads(capsys.readouterr().out)
    (row,) = result["tasks"]
    assert row["status"] == "passed" and row["cycles"] == row["baseline_cycles"]
    assert row["wall_s"] > 0 and row["cpu_s"] > 0 and result["max_wall_s"] == row["wall_s"]
