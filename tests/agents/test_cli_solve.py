"""`agent solve`, `agent report` and `agent memory` run as a user runs them (subprocesses).

Every run uses a temporary experience store (`--memory`) and run folder, and the builtin
model, so the whole road (compilers → reply parser → sandbox → verifier → simulator →
store → results.json) runs offline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULT_KEYS = {"task", "status", "correct", "cycles", "baseline_cycles", "speedup"}
SUMMARY_KEYS = {"solved", "total", "fast_1", "fast_2", "geomean_speedup", "tokens", "cost_usd"}


def agent(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})}
    full_env.pop("AGENT_MODEL", None)
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *map(str, args)],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_main(*args: str | Path) -> int:
    """`agent ARGS` in this process (for the quick commands); the exit code. Output is
    read with capsys."""
    import agents.cli

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["agent", *map(str, args)])
        try:
            agents.cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
    return code


def test_solve_with_the_builtin_model_writes_results_and_a_second_run_recalls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    memory = tmp_path / "memory.sqlite"
    out = tmp_path / "run1"
    done = agent(
        "solve",
        "benchmarks/step",
        "--model",
        "builtin",
        "--tasks",
        "gemm*bias",
        "--samples",
        "2",
        "--out",
        out,
        "--memory",
        memory,
    )
    assert done.returncode == 0, done.stderr
    assert "model: builtin (--model flag)" in done.stdout
    results = json.loads((out / "results.json").read_text())
    (entry,) = results["tasks"]
    assert RESULT_KEYS <= set(entry) and entry["task"] == "step/gemm_bias"
    assert entry["status"] == "passed" and entry["correct"] and entry["cycles"] > 0
    assert entry["speedup"] == round(entry["baseline_cycles"] / entry["cycles"], 4)
    assert SUMMARY_KEYS <= set(results["summary"])
    assert results["summary"]["solved"] == results["summary"]["total"] == 1
    assert "solved 1/1" in done.stdout and "fast_1" in done.stdout  # the closing table
    # Not a terminal: plain lines, no live-display control codes.
    assert "  step/gemm_bias r1s0 propose: passed" in done.stdout
    assert "\x1b[?25l" not in done.stdout

    again = agent(
        "solve",
        "step",
        "--tasks",
        "gemm_bias",
        "--out",
        tmp_path / "run2",
        "--memory",
        memory,
        "--optimise-rounds",
        "0",
    )
    assert again.returncode == 0, again.stderr
    assert "model: builtin (default" in again.stdout
    detail = json.loads((tmp_path / "run2" / "tasks" / "step" / "gemm_bias.json").read_text())
    assert [a["origin"] for a in detail["attempts"]] == ["recall"]
    assert "solved 1/1 (0 new, 1 recalled from memory)" in again.stdout
    assert detail["attempts"][0]["verdict"]["status"] == "passed"

    assert run_main("report", out) == 0
    assert f"wrote {out / 'report.html'}" in capsys.readouterr().out
    page = (out / "report.html").read_text()
    # speedup bars, fast_p curve, the best kernel's timeline and the task's own (collapsed)
    assert page.count("<svg") == 4 and "step/gemm_bias" in page

    assert run_main("memory", "stats", "--json", "--memory", memory) == 0
    counted = json.loads(capsys.readouterr().out)
    assert counted["solved"] == 1 and counted["runs"] == 2
    assert counted["by_status"]["passed"] == counted["attempts"]
    assert run_main("memory", "show", "step/gemm_bias", "--memory", memory) == 0
    assert "best (*)" in capsys.readouterr().out
    assert run_main("memory", "best", "--json", "--memory", memory) == 0
    (best,) = json.loads(capsys.readouterr().out)
    assert best["task"] == "step/gemm_bias"
    assert best["cycles"] == min(entry["cycles"], detail["attempts"][0]["verdict"]["cycles"])


@pytest.mark.slow  # a run each (worker start-up dominates); step runs in the default set
@pytest.mark.parametrize(
    "suite, glob", [("benchmarks/dae", "eb_sum_hot"), ("benchmarks/sam", "elemadd")]
)
def test_solve_builtin_on_the_other_suites(tmp_path: Path, suite: str, glob: str) -> None:
    done = agent(
        "solve",
        suite,
        "--model",
        "builtin",
        "--tasks",
        glob,
        "--samples",
        "1",
        "--optimise-rounds",
        "0",
        "--out",
        tmp_path / "run",
        "--memory",
        tmp_path / "m.sqlite",
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    (entry,) = results["tasks"]
    assert entry["status"] == "passed", entry


@pytest.mark.parametrize(
    "args, message",
    [
        (["solve", "no_such_suite"], "no suite 'no_such_suite'"),
        (["solve", "step", "--tasks", "zz*"], "--tasks 'zz*' matches no task"),
        (["solve", "step", "--samples", "0"], "--samples must be at least 1"),
        (["solve", "step", "--resume"], "--resume needs --out"),
        (["solve", "step", "--model", "scripted:/no/such.jsonl"], "cannot read /no/such.jsonl"),
        (["report", "/no/such/run"], "holds no results.json"),
        (["memory", "show", "step/gemm", "--memory", "/no/such.sqlite"], "no experience store"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(*args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_run_folder_is_not_overwritten_without_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{}")
    code = run_main(
        "solve",
        "step",
        "--tasks",
        "gemm",
        "--out",
        tmp_path / "run",
        "--memory",
        tmp_path / "m.sqlite",
    )
    assert code == 2 and "already holds a run" in capsys.readouterr().err


def test_help_is_fast_and_lists_the_commands() -> None:
    done = agent("--help", timeout=30)
    assert done.returncode == 0
    for command in ("solve", "report", "memory"):
        assert command in done.stdout
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, agents.cli; print(sorted(m for m in"
            " ('langgraph', 'litellm', 'torch', 'numpy', 'matplotlib') if m in sys.modules))",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == "[]"


def test_max_cost_stops_cleanly_with_partial_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.agents.workflows.conftest import BASELINE, fenced, write_script

    script = write_script(
        tmp_path / "replies.jsonl",
        [
            {"text": fenced(BASELINE), "match": "# Task: step/gemm\n", "cost_usd": 0.02},
            {"text": fenced(BASELINE), "cost_usd": 0.02},
        ],
    )
    out = tmp_path / "run"
    code = run_main(
        "solve",
        "step",
        "--tasks",
        "gemm*",
        "--model",
        f"scripted:{script}",
        "--samples",
        "1",
        "--max-cost",
        "0.03",
        "--out",
        out,
        "--memory",
        tmp_path / "m.sqlite",
        "--jobs",
        "1",
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "stopped early (budget" in printed
    assert f"agent solve step --tasks 'gemm*' --out {out} --resume" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["summary"]["stopped"].startswith("budget")
    assert results["summary"]["cost_usd"] == 0.02 and results["summary"]["total"] == 3
    statuses = [e["status"] for e in results["tasks"]]
    assert statuses[0] == "passed" and statuses[1:] == ["not_run", "not_run"]

    # The resume keeps the run's budget, and what was spent before counts against it: one
    # more call ($0.02, the meter knows no price before it) and the run stops again, at
    # $0.04 spent in all (counting only its own spending, it would have gone on).
    resumed = ["solve", "step", "--tasks", "gemm*", "--out", out, "--resume"]
    assert run_main(*resumed) == 0
    printed = capsys.readouterr().out
    assert "max cost $0.03 (the run's own settings)" in printed
    assert "stopped early (budget: budget $0.0300 reached: spent $0.0400" in printed
