"""The HTML report: self-contained (no fetched resources), with the three figures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agents.report.html import ReportError, write_report
from agents.workflows import results as rs


def _run_folder(tmp_path: Path, *, timeline: list | None) -> Path:
    detail = {
        "task": "step/gemm",
        "baseline_cycles": 900,
        "best_attempt": "r2s0",
        "attempts": [
            {
                "id": "r1s0",
                "origin": "propose",
                "parent": None,
                "guardian": "unchanged",
                "program": "from dsl import step\n",
                "verdict": {
                    "status": "incorrect",
                    "cycles": None,
                    "feedback": "output 'c' <differs>",
                },
            },
            {
                "id": "r2s0",
                "origin": "repair",
                "parent": "r1s0",
                "guardian": "skipped",
                "program": "def kernel(a, b):\n    return a < b\n",
                "verdict": {
                    "status": "passed",
                    "cycles": 300,
                    "feedback": "ok",
                    "bottleneck": "memory-bound on LinearOffChipLoad",
                    "timeline": timeline or [],
                },
            },
        ],
    }
    (tmp_path / "tasks" / "step").mkdir(parents=True)
    (tmp_path / "tasks" / "step" / "gemm.json").write_text(json.dumps(detail))
    entries = [
        {
            **rs.not_run_entry("step/gemm", 900),
            "status": "passed",
            "correct": True,
            "cycles": 300,
            "speedup": 3.0,
            "attempts": 2,
            "best_attempt": "r2s0",
            "detail": "tasks/step/gemm.json",
        },
        {**rs.not_run_entry("step/softmax", 500), "status": "invalid", "attempts": 1},
        rs.not_run_entry("step/rope"),
    ]
    rs.write_results(
        tmp_path / "results.json",
        {"run_id": "r-1", "suite": "step", "model": "builtin"},
        entries,
        rs.summary(entries, tokens=12, cost_usd=0.01),
    )
    return tmp_path


def test_report_is_one_offline_file_with_figures_and_escaped_text(tmp_path: Path) -> None:
    folder = _run_folder(
        tmp_path, timeline=[["load_a", 0, 120], ["matmul", 40, 280], ["store_c", 200, 300]]
    )
    path = write_report(folder)
    assert path == folder / "report.html"
    page = path.read_text()
    assert page.count("<svg") == 3  # speedup bars, fast_p curve, timeline
    assert "Best kernel's timeline: step/gemm" in page
    # Offline: nothing loaded from elsewhere.
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)
    assert "<script" not in page
    # Program and feedback text is escaped, never interpreted as HTML.
    assert "return a &lt; b" in page and "&lt;differs&gt;" in page
    assert "solved</th><td>1 / 3" in page
    assert "memory-bound on LinearOffChipLoad" in page


def test_report_says_when_there_is_no_timeline(tmp_path: Path) -> None:
    page = write_report(_run_folder(tmp_path, timeline=None)).read_text()
    assert page.count("<svg") == 2
    assert "reported no timeline" in page


def test_report_of_a_folder_without_results_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no results.json"):
        write_report(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ReportError, match="not a results file"):
        write_report(tmp_path)
