"""`agent tune TASK PROGRAM` as a user runs it, and `agent solve --tune-budget`.

Every evaluation is a real sandboxed build and trusted check, so the runs are few and small;
the ones that tune at all are marked slow.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.task import load_task
from dsl.step.compiler import compile_task

ROOT = Path(__file__).resolve().parents[2]


def agent(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
    )


def program(tmp_path: Path, text: str) -> str:
    path = tmp_path / "kernel.py"
    path.write_text(text)
    return str(path)


PLAIN_GEMM = """
from dsl import step


def kernel(a, b, tile_rows=16):
    a_t = step.linear_offchip_load(a, (tile_rows, 128))
    a_t0, a_t1 = step.copy(a_t, 2)
    b_t = step.expand(step.linear_offchip_load(b, (128, 64)), a_t1)
    return step.linear_offchip_store(step.map([a_t0, b_t], "matmul"), "c")
"""


def test_a_program_without_declared_parameters_is_one_line_usage_error(tmp_path):
    result = agent("tune", "step/gemm", program(tmp_path, PLAIN_GEMM), "--budget", "2")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "declares no tunable parameters" in lines[0]
    assert "@step.tunable" in lines[0]


def test_a_bad_domain_names_the_parameter(tmp_path):
    text = PLAIN_GEMM.replace("def kernel", "@step.tunable(tile_rows=[16, 16, 32])\ndef kernel")
    result = agent("tune", "step/gemm", program(tmp_path, text), "--budget", "2")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "tunable parameter 'tile_rows': repeated values" in result.stderr


def test_a_bad_constraint_is_quoted(tmp_path):
    text = PLAIN_GEMM.replace(
        "def kernel", "@step.tunable(tile_rows=[16, 32], constraints=['tile < 64'])\ndef kernel"
    )
    result = agent("tune", "step/gemm", program(tmp_path, text), "--budget", "2")
    assert result.returncode == 2
    assert "constraint 'tile < 64': 'tile' is not a tunable parameter" in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_tune_reports_progress_best_and_writes_the_run_folder(tmp_path):
    # The builtin compiler's gemm declares its row tile and its maps' compute units.
    text = compile_task(load_task(ROOT / "benchmarks/step/gemm.toml"))
    out = tmp_path / "run"
    result = agent("tune", "step/gemm", program(tmp_path, text), "--budget", "4", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("| feasible") == 4  # one progress line per evaluation
    assert "best: " in result.stdout and "cycles" in result.stdout
    data = json.loads((out / "tune.json").read_text())
    assert data["evaluations"] == 4
    assert data["start_params"] == {"tile_rows": 16, "compute": 1}  # the program's own first
    assert {t["params"]["compute"] for t in data["trials"]} != {1}  # compute is turned too
    assert data["best_cycles"] < data["start_cycles"]
    assert (out / "convergence.png").stat().st_size > 1000
    tuned = (out / "tuned.py").read_text()
    assert "step.tunable.with_defaults(kernel" in tuned
    # The tuned program runs by itself with the best values, at the best cycles.
    check = agent("eval", "step/gemm", str(out / "tuned.py"), "--json")
    assert json.loads(check.stdout)["status"] == "passed"


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a solve run plus 20 verified evaluations, on a shared machine
@pytest.mark.parametrize("name", ["gemm", "linear_transposed", "rmsnorm"])
def test_solve_with_tune_budget_records_a_tuned_program_with_lineage(tmp_path, name):
    # Tasks whose builtin program (tile_rows=16) is not the fastest row tile.
    memory = tmp_path / "memory.sqlite"
    result = agent(
        "solve",
        "step",
        "--tasks",
        name,
        "--tune-budget",
        "20",
        "--memory",
        str(memory),
        "--out",
        str(tmp_path / "run"),
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(memory) as db:
        rows = db.execute(
            "select t.task_key, t.status, t.cycles, p.cycles, t.program from attempts t"
            " join attempts p on t.parent_id = p.id where t.model = 'tuner'"
        ).fetchall()
    assert len(rows) == 1, rows
    task, status, tuned, parent, text = rows[0]
    assert task == f"step/{name}" and status == "passed" and tuned < parent
    assert "kernel = step.tunable.with_defaults(kernel, tile_rows=" in text
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["tasks"][0]["cycles"] == tuned  # the tuned program is the task's best
