"""The `agent` command as a user runs it: help, bad usage, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest


def agent(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_help_lists_the_contract_commands():
    result = agent("--help")
    assert result.returncode == 0
    for command in ("tasks", "eval", "doctor"):
        assert command in result.stdout


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys, agents.cli; heavy = [m for m in ('torch', 'numpy', 'litellm', 'langgraph')"
        " if m in sys.modules]; print(heavy)"
    )
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
    assert time.perf_counter() - start < 5  # generous: the point is no 4 s litellm import


@pytest.mark.parametrize(
    "args, message",
    [
        (("tasks", "no_such_suite"), "agent: no suite 'no_such_suite'"),
        (("eval", "no_such_suite/x", "prog.py"), "agent: no suite 'no_such_suite'"),
        (("eval", "just_a_name", "prog.py"), "give a .toml file or suite/name"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args, message):
    result = agent(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_unknown_command_is_a_usage_error():
    result = agent("frobnicate")
    assert result.returncode == 2


def test_eval_json_contract(tmp_path):
    import json

    from tests.interpreter.test_verifier import GOOD

    program = tmp_path / "gemm.py"
    program.write_text(GOOD)
    result = agent("eval", "step/gemm", str(program), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "passed" and data["correct"] is True and data["cycles"] > 0
    assert data["task"] == "step/gemm" and data["feedback"]

    program.write_text("from dsl import step\ndef kernel(a, b:\n")
    result = agent("eval", "step/gemm", str(program), "--json")
    assert result.returncode == 0  # a wrong kernel is a verdict, not a failure of the command
    data = json.loads(result.stdout)
    assert data["status"] == "error" and "SyntaxError" in data["feedback"]
    assert data["correct"] is False and data["cycles"] is None


def test_eval_bad_program_path_and_backend(tmp_path):
    result = agent("eval", "step/gemm", str(tmp_path / "missing.py"))
    assert result.returncode == 2 and "no program file" in result.stderr
    program = tmp_path / "p.py"
    program.write_text("x = 1\n")
    result = agent("eval", "step/gemm", str(program), "--sandbox", "vmware")
    assert result.returncode == 2 and "vmware" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_tasks_and_doctor():
    import json

    result = agent("tasks", "benchmarks/step", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) >= 30 and all(r["task"].startswith("step/") for r in rows)
    result = agent("doctor")
    assert result.returncode == 0 and "sandbox:" in result.stdout
