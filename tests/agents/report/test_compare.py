"""`agent report RUN_A RUN_B`: two runs side by side, task by task."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from agents.report.compare import change, write_comparison
from agents.report.html import ReportError
from agents.workflows import results as rs


def _entry(task: str, cycles: int | None, baseline: int = 1000) -> dict:
    if cycles is None:
        return {**rs.not_run_entry(task, baseline), "status": "invalid", "attempts": 1}
    return {
        **rs.not_run_entry(task, baseline),
        "status": "passed",
        "correct": True,
        "cycles": cycles,
        "speedup": baseline / cycles,
        "attempts": 1,
    }


def _run(folder: Path, model: str, entries: list[dict]) -> Path:
    folder.mkdir()
    rs.write_results(
        folder / "results.json",
        {"run_id": folder.name, "suite": "step", "model": model, "started": 0.0, "updated": 90.0},
        entries,
        rs.summary(entries, tokens=0, cost_usd=0.0),
    )
    return folder


@pytest.mark.parametrize(
    "a, b, word",
    [
        (500, 250, "faster"),
        (250, 500, "slower"),
        (500, 500, "same"),
        (None, 500, "newly solved"),
        (500, None, "lost"),
        (None, None, "still unsolved"),
    ],
)
def test_change_names_what_happened(a, b, word) -> None:
    assert change(_entry("t", a), _entry("t", b)) == word


def test_change_of_a_task_in_one_run_only() -> None:
    assert change(None, _entry("t", 5)) == "only in B"
    assert change(_entry("t", 5), None) == "only in A"


def test_comparison_page(tmp_path: Path) -> None:
    run_a = _run(
        tmp_path / "a",
        "builtin",
        [_entry("step/gemm", 1000), _entry("step/rope", None), _entry("step/old", 10)],
    )
    run_b = _run(
        tmp_path / "b",
        "anthropic/claude-sonnet-4-5",
        [_entry("step/gemm", 400), _entry("step/rope", 800), _entry("step/new", 10)],
    )
    path = write_comparison(run_a, run_b)
    assert path == run_b / "compare.html"
    page = path.read_text()
    # gemm: 1000 -> 400 cycles is 2.50x, and faster
    assert re.search(r"step/gemm</td>.*?<td>1000</td>.*?<td>400</td><td>2.50x</td>.*?faster", page)
    assert re.search(r"step/rope</td>.*?<td>—</td>.*?<td>800</td><td>—</td>.*?newly solved", page)
    assert "only in A" in page and "only in B" in page
    assert "1 faster, 1 newly solved, 1 only in A, 1 only in B" in page
    assert "<code>anthropic/claude-sonnet-4-5</code>" in page
    assert "<td>2 / 3</td><td>3 / 3</td>" in page  # solved, A then B
    assert "<script" not in page and "wall time</th><td>1 min 30 s" in page


def test_comparison_with_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    run_a = _run(tmp_path / "a", "builtin", [_entry("step/gemm", 1000)])
    with pytest.raises(ReportError, match="no results.json"):
        write_comparison(run_a, tmp_path)


def test_cli_compares_two_runs_and_names_a_bad_output_path(tmp_path: Path) -> None:
    run_a = _run(tmp_path / "a", "builtin", [_entry("step/gemm", 1000)])
    run_b = _run(tmp_path / "b", "builtin", [_entry("step/gemm", 500)])
    agent = [sys.executable, "-m", "agents.cli", "report"]
    done = subprocess.run([*agent, str(run_a), str(run_b)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"wrote {run_b / 'compare.html'}" in done.stdout
    bad = tmp_path / "no_such_dir" / "x.html"
    done = subprocess.run([*agent, str(run_a), "-o", str(bad)], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == f"agent: cannot use {bad}: No such file or directory"
