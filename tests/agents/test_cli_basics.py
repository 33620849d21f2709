"""The `agent` command as a user runs it: help, bad usage, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest


def agent(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agents.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def test_help_lists_the_contract_commands():
    result = agent("--help")
    assert result.returncode == 0
    for command in ("tasks", "eval", "doctor"):
        assert command in result.stdout


def test_help_does_not_import_heavy_libraries():
    code = ("import sys, agents.cli; heavy = [m for m in ('torch', 'numpy', 'litellm', 'langgraph')"
            " if m in sys.modules]; print(heavy)")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
    assert time.perf_counter() - start < 5  # generous: the point is no 4 s litellm import


@pytest.mark.parametrize("args, message", [
    (("tasks", "no_such_suite"), "agent: no suite 'no_such_suite'"),
    (("eval", "no_such_suite/x", "prog.py"), "agent: no suite 'no_such_suite'"),
    (("eval", "just_a_name", "prog.py"), "give a .toml file or suite/name"),
])
def test_bad_usage_is_one_line_and_exit_2(args, message):
    result = agent(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_unknown_command_is_a_usage_error():
    result = agent("frobnicate")
    assert result.returncode == 2
