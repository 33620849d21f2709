"""`agent eval` reports the baseline timed on the same secret input as the program, and
`--seed` replays the check a verdict failed on."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.interpreter.test_verifier import GOOD


def eval_json(*args: str) -> tuple[int, dict]:
    result = subprocess.run(
        [sys.executable, "-m", "agents.cli", "eval", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, json.loads(result.stdout)


@pytest.mark.slow  # two evaluations in a fresh process each
def test_eval_reports_baseline_and_speedup_on_the_same_input(tmp_path):
    program = tmp_path / "gemm.py"
    program.write_text(GOOD)
    code, data = eval_json("step/gemm", str(program))
    assert code == 0 and data["status"] == "passed", data["feedback"]
    for key in ("task", "status", "correct", "cycles", "feedback", "baseline_cycles", "speedup"):
        assert key in data
    assert data["baseline_cycles"] > 0
    assert data["speedup"] == round(data["baseline_cycles"] / data["cycles"], 4)


@pytest.mark.slow
def test_seed_replays_the_failed_check(tmp_path):
    """The verdict gives the failing run's seed and dims as fields; `--seed` reproduces that
    very failure (same inputs, so the same index and values)."""
    program = tmp_path / "wrong.py"
    program.write_text(
        GOOD.replace(
            'step.map([a_t0, b_t], "matmul")',
            'step.map([step.map([a_t0, b_t], "matmul")], "exp")',
        )
    )
    code, first = eval_json("step/gemm", str(program))
    assert code == 1 and first["status"] == "incorrect", first["feedback"]
    assert first["seed"] is not None and first["dims"]["M"] in (32, 64)
    assert f"seed {first['seed']}" in first["feedback"]
    code, again = eval_json("step/gemm", str(program), "--seed", str(first["seed"]))
    assert code == 1
    assert (again["status"], again["feedback"], again["seed"], again["dims"]) == (
        first["status"],
        first["feedback"],
        first["seed"],
        first["dims"],
    )
