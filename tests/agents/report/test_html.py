"""The HTML report: self-contained (nothing fetched, nothing scripted), per-task sections
with description, target, a collapsed timeline per solved task, the lineage of attempts with
prompts and replies, dates and durations, and full (escaped) feedback."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from agents.report.html import ReportError, duration_text, task_seconds, write_report
from agents.workflows import results as rs

LONG_FEEDBACK = "output 'c' <differs> " + "at row 7 column 3; " * 30 + "END-OF-FEEDBACK"


def _attempts(timeline: list | None) -> list[dict]:
    return [
        {
            "id": "r1s0",
            "origin": "propose",
            "parent": None,
            "guardian": "unchanged",
            "seconds": 1.5,
            "prompt": [{"role": "user", "content": "Write step/gemm <please>"}],
            "reply": "```python\nfrom dsl import step\n```",
            "program": "from dsl import step\n",
            "verdict": {
                "status": "incorrect",
                "cycles": None,
                "feedback": LONG_FEEDBACK,
                "seconds": {"total": 2.0},
            },
        },
        {
            "id": "r2s0",
            "origin": "repair",
            "parent": "r1s0",
            "guardian": "skipped",
            "seconds": 0.5,
            "prompt": [{"role": "user", "content": "Repair it: REPAIR-PROMPT-TEXT"}],
            "reply": "REPLY-TEXT-R2S0",
            "program": "def kernel(a, b):\n    return a < b\n",
            "verdict": {
                "status": "passed",
                "cycles": 300,
                "feedback": "ok",
                "bottleneck": "memory-bound on LinearOffChipLoad",
                "timeline": timeline or [],
                "seconds": {"total": 56.0},
            },
        },
    ]


def _run_folder(tmp_path: Path, *, timeline: list | None, speedup: float = 3.0) -> Path:
    detail = {
        "task": "step/gemm",
        "baseline_cycles": 900,
        "best_attempt": "r2s0",
        "attempts": _attempts(timeline),
    }
    (tmp_path / "tasks" / "step").mkdir(parents=True)
    (tmp_path / "tasks" / "step" / "gemm.json").write_text(json.dumps(detail))
    entries = [
        {
            **rs.not_run_entry("step/gemm", 900),
            "status": "passed",
            "correct": True,
            "cycles": round(900 / speedup),
            "speedup": speedup,
            "attempts": 2,
            "best_attempt": "r2s0",
            "detail": "tasks/step/gemm.json",
        },
        {
            **rs.not_run_entry("step/softmax", 500),
            "status": "invalid",
            "attempts": 1,
            "feedback": "map: unknown function 'nope'",
        },
        rs.not_run_entry("step/rope"),
    ]
    rs.write_results(
        tmp_path / "results.json",
        {
            "run_id": "r-1",
            "suite": "step",
            "model": "builtin",
            "started": 1_700_000_000.0,  # 2023-11-14 22:13:20 UTC
            "updated": 1_700_000_000.0 + 754,
        },
        entries,
        rs.summary(entries, tokens=12, cost_usd=0.01),
    )
    return tmp_path


TIMELINE = [["load_a", 0, 120], ["matmul", 40, 280], ["store_c", 200, 300]]


def test_report_is_one_offline_file_with_figures_and_escaped_text(tmp_path: Path) -> None:
    path = write_report(_run_folder(tmp_path, timeline=TIMELINE))
    assert path == tmp_path / "report.html"
    page = path.read_text()
    # speedup bars, fast_p curve, the best kernel's timeline, and the task's own (collapsed)
    assert page.count("<svg") == 4
    assert "Best kernel's timeline: step/gemm" in page
    assert re.search(r"<details><summary>timeline of the kernel</summary><figure><svg", page)
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)  # nothing fetched
    assert "<script" not in page
    assert "return a &lt; b" in page and "&lt;differs&gt;" in page
    assert "solved</th><td>1 / 3" in page
    assert "memory-bound on LinearOffChipLoad" in page


def test_report_has_run_date_wall_time_and_per_task_time(tmp_path: Path) -> None:
    page = write_report(_run_folder(tmp_path, timeline=TIMELINE)).read_text()
    assert "started 2023-11-14 22:13:20 UTC" in page
    assert "wall time 12 min 34 s" in page
    # step/gemm: model 1.5 + 0.5 s, checks 2.0 + 56.0 s = 60 s
    assert "<td>1 min 00 s</td>" in page and "time 1 min 00 s (model + checks)" in page


def test_report_task_sections_have_description_target_lineage_and_full_feedback(
    tmp_path: Path,
) -> None:
    page = write_report(_run_folder(tmp_path, timeline=TIMELINE)).read_text()
    gemm = page[page.index("<section class='task' id='task-step-gemm'>") :]
    gemm = gemm[: gemm.index("</section>")]
    assert "target <code>step_default</code>" in gemm
    assert "Matrix multiply c = a @ b." in gemm  # the task file's description
    assert "END-OF-FEEDBACK" in gemm and "at row 7 column 3; " * 30 in gemm  # never cut
    # the lineage: r2s0 repairs r1s0 and is the best (★), prompts and replies collapsed
    assert re.search(r"<td>r2s0 ★</td><td class='text'>repair</td><td>r1s0</td>", gemm)
    assert "<summary>r2s0: repair from r1s0</summary>" in gemm
    assert "Repair it: REPAIR-PROMPT-TEXT" in gemm and "REPLY-TEXT-R2S0" in gemm
    assert "Write step/gemm &lt;please&gt;" in gemm
    softmax = page[page.index("id='task-step-softmax'") :]
    assert "Why not solved:" in softmax and "unknown function &#x27;nope&#x27;" in softmax
    assert "Not attempted." in page[page.index("id='task-step-rope'") :]


def test_a_task_file_that_moved_away_still_gets_a_section(tmp_path: Path) -> None:
    folder = _run_folder(tmp_path, timeline=TIMELINE)
    results = json.loads((folder / "results.json").read_text())
    results["tasks"][1]["task"] = "step/no_such_task_anymore"
    (folder / "results.json").write_text(json.dumps(results))
    page = write_report(folder).read_text()
    assert "task file not found: no description" in page


def test_report_says_when_there_is_no_timeline(tmp_path: Path) -> None:
    page = write_report(_run_folder(tmp_path, timeline=None)).read_text()
    assert page.count("<svg") == 2
    assert "reported no timeline" in page
    assert "timeline of the kernel" not in page


def test_report_of_a_folder_without_results_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no results.json"):
        write_report(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ReportError, match="not a results file"):
        write_report(tmp_path)
    (tmp_path / "results.json").write_text('{"tasks": []}')
    with pytest.raises(ReportError, match=r"not a results file \(no summary\)"):
        write_report(tmp_path)


@pytest.mark.parametrize(
    "seconds, text",
    [(4.25, "4.2 s"), (60, "1 min 00 s"), (754, "12 min 34 s"), (7260, "2 h 01 min")],
)
def test_durations_read_like_a_clock(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_task_time_sums_model_and_check_seconds() -> None:
    assert task_seconds({"attempts": _attempts(None)}) == pytest.approx(60.0)
    assert task_seconds(None) is None
    assert task_seconds({"attempts": [{"id": "x", "verdict": None}]}) == 0.0


def test_a_refusal_is_shown_as_not_covered_with_its_whole_reason(tmp_path: Path) -> None:
    folder = _run_folder(tmp_path, timeline=None)
    results = json.loads((folder / "results.json").read_text())
    why = "the builtin dae compiler does not cover fft: " + "op 'fft' has no lowering. " * 12
    results["tasks"][2] = {
        **results["tasks"][2],
        "status": "not_covered",
        "attempts": 1,
        "feedback": why,
    }
    (folder / "results.json").write_text(json.dumps(results))
    page = write_report(folder).read_text()
    assert "<td class='text not_covered'>not_covered</td>" in page
    assert f"<p>Why not covered:</p><pre>{html.escape(why)}</pre>" in page  # whole, not cut
    assert "<p>Why not solved:</p><pre>map: unknown function" in page  # a failure stays one
