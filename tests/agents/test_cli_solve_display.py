"""The solve progress display: plain lines off a terminal, a live table on one."""

from __future__ import annotations

import io

from rich.console import Console

from agents.solve_display import SolveDisplay, closing_table, summary_line, summary_notes
from agents.workflows import results as rs

PASSED = {
    "id": "r1s0",
    "round": 1,
    "index": 0,
    "origin": "propose",
    "cost_usd": 0.5,
    "verdict": {"status": "passed", "cycles": 420, "feedback": "ok"},
}
SAME = {**PASSED, "id": "r1s1", "index": 1, "duplicate_of": "r1s0"}
FAILED = {
    "id": "r2s0",
    "round": 2,
    "index": 0,
    "origin": "repair",
    "cost_usd": 0.25,
    "verdict": {
        "status": "invalid",
        "cycles": None,
        "feedback": "map: unknown map function\n'matmul_nope'",
    },
}


def _drive(display: SolveDisplay) -> dict:
    display.start({"run_id": "x"}, ["step/gemm", "step/rope"])
    display.task_started("step/gemm", {})
    display.attempt("step/gemm", {**PASSED, "verdict": None})  # generated, not checked
    for attempt in (PASSED, SAME, FAILED):
        display.attempt("step/gemm", attempt)
    entry = {
        **rs.not_run_entry("step/gemm", 840),
        "status": "passed",
        "correct": True,
        "cycles": 420,
        "speedup": 2.0,
        "attempts": 3,
        "cost_usd": 1.25,
    }
    display.task_done("step/gemm", entry)
    results = {
        "run": {"suite": "step"},
        "tasks": [entry, rs.not_run_entry("step/rope")],
        "summary": rs.summary([entry, rs.not_run_entry("step/rope")], tokens=7, cost_usd=1.25),
    }
    display.finish(results["summary"])
    return results


def test_plain_lines_when_not_a_terminal() -> None:
    buffer = io.StringIO()
    _drive(SolveDisplay(Console(file=buffer, force_terminal=False, width=100)))
    lines = buffer.getvalue().splitlines()
    assert lines == [
        "  step/gemm r1s0 propose: passed 420 cycles",
        "  step/gemm r1s1 propose: passed (same program as r1s0)",
        "  step/gemm r2s0 repair: invalid — map: unknown map function 'matmul_nope'",
        "[1/2 0:00] step/gemm  passed  420 cycles  2.00x  3 attempts  $1.2500",
    ]
    assert "\x1b" not in buffer.getvalue()


def test_live_table_on_a_terminal_and_the_closing_table() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    display = SolveDisplay(console)
    assert display.live_mode
    results = _drive(display)
    drawn = buffer.getvalue()
    assert "1/2 done" in drawn and "1 waiting" in drawn and "420" in drawn
    assert "[1/2 " not in drawn  # no plain lines in live mode

    buffer = io.StringIO()
    Console(file=buffer, width=120).print(closing_table(results))
    table = buffer.getvalue()
    assert "step/gemm" in table and "2.00x" in table and "not_run" in table
    assert summary_line(results["summary"]) == (
        "solved 1/2  fast_1 0.50 (1)  fast_2 0.00 (0)  geomean speedup 2.00x"
        "  tokens 7  cost $1.2500"
    )


def _entry(task: str, status: str = "passed") -> dict:
    return {
        **rs.not_run_entry(task, 100),
        "status": status,
        "correct": status == "passed",
        "cycles": 100 if status == "passed" else None,
        "speedup": 1.0 if status == "passed" else None,
        "attempts": 1,
    }


def _text(renderable, width: int = 100) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, force_terminal=False).print(renderable)
    return buffer.getvalue()


def test_live_view_shows_done_total_elapsed_and_current_task() -> None:
    now = [1000.0]
    display = SolveDisplay(
        Console(file=io.StringIO(), force_terminal=False, height=40), clock=lambda: now[0]
    )
    display.start({}, ["step/a", "step/b", "step/c"])
    display.task_started("step/a", {})
    display.task_done("step/a", _entry("step/a"))
    display.task_started("step/b", {})
    now[0] += 125
    view = _text(display.view())
    assert "agent solve: 1/3 done, 2:05 elapsed; now: step/b" in view
    assert "step/c" not in view  # waiting tasks make room for the running and finished
    assert "+ 1 more tasks (1 waiting, 0 finished earlier)" in view


def test_live_view_fits_a_short_terminal_and_counts_what_it_hides() -> None:
    tasks = [f"step/t{i:02d}" for i in range(40)]
    display = SolveDisplay(Console(file=io.StringIO(), force_terminal=False, height=14))
    display.start({}, tasks)
    for key in tasks[:30]:
        display.task_started(key, {})
        display.task_done(key, _entry(key, "passed" if key != "step/t29" else "invalid"))
    display.task_started("step/t30", {})
    view = _text(display.view())
    lines = view.splitlines()
    assert len(lines) <= 14
    assert "30/40 done" in lines[0] and "now: step/t30" in lines[0]
    # running first, then the latest finished, newest first
    rows = [line.split()[0] for line in lines if line.startswith(" step/")]
    assert rows[:3] == ["step/t30", "step/t29", "step/t28"]
    hidden = 40 - len(rows)
    assert f"+ {hidden} more tasks (9 waiting, {30 - (len(rows) - 1)} finished earlier)" in view
    assert "..." not in view


def test_summary_notes_explain_fast_p_and_failures() -> None:
    entries = [_entry("step/a"), _entry("step/b"), _entry("step/c", "error")]
    results = {
        "run": {"model": "builtin"},
        "tasks": entries,
        "summary": rs.summary(entries, tokens=0, cost_usd=0.0),
    }
    notes = summary_notes(results, "runs/x/report.html")
    assert notes[0].startswith("fast_p: share of all 3 tasks whose kernel is correct and more")
    assert "ties its baseline (1.00x)" in notes[1]
    assert notes[2] == (
        "Not solved: 1 error. Each task's feedback says why; full text in runs/x/report.html."
    )
    entries.append(_entry("step/d", "not_covered"))
    notes = summary_notes({**results, "summary": rs.summary(entries, tokens=0, cost_usd=0.0)}, "r")
    assert notes[2] == (
        "Not solved: 1 error, 1 not_covered. Each task's feedback says why (not_covered: the"
        " model declined the task, whole reason in the report); full text in r."
    )
    entries.pop()
    results["run"]["model"] = "openai/gpt-4o"  # ties are then nothing to explain
    notes = summary_notes(results, "r")
    assert (
        len(notes) == 2
        and notes[1] == "Not solved: 1 error. Each task's feedback says why; full text in r."
    )


def test_closing_table_keeps_whole_names_in_80_columns() -> None:
    names = ["step/attention_decode_azure_gqa", "step/moe_layer_shared_expert", "step/rope"]
    entries = [_entry(name, "passed" if i else "error") for i, name in enumerate(names)]
    results = {"run": {"suite": "step"}, "tasks": entries}
    out = _text(closing_table(results), width=80)
    assert max(len(line) for line in out.splitlines()) <= 80
    assert [line.split()[0] for line in out.splitlines() if line.startswith(" step/")] == names
    assert "…" not in out and "cost $" not in out  # a run that cost nothing shows no cost
    entries[1]["cost_usd"] = 0.25
    assert "0.2500" in _text(closing_table(results), width=120)


def test_summary_line_says_what_was_recalled_and_what_was_estimated() -> None:
    recalled = {**_entry("step/a"), "source": "memory", "speedup": 2.0}
    new = {**_entry("step/b"), "source": "new", "tokens_estimated": True}
    summary = rs.summary([recalled, new, _entry("step/c", "invalid")], tokens=81, cost_usd=0)
    assert summary_line(summary) == (
        "solved 2/3 (1 new, 1 recalled from memory)  fast_1 0.33 (1)  fast_2 0.00 (0)"
        "  geomean speedup 1.41x  tokens ~81 (estimated)  cost $0.0000"
    )
    results = {"run": {"suite": "step"}, "tasks": [recalled, new], "summary": summary}
    buffer = io.StringIO()
    Console(file=buffer, width=120).print(closing_table(results))
    assert "passed (memory)" in buffer.getvalue()
    notes = " ".join(summary_notes(results, "the report"))
    assert "1 solved task(s) marked (memory) were recalled" in notes


def test_a_refusal_line_keeps_its_whole_reason() -> None:
    from agents.solve_display import _attempt_line

    why = "spec key 'padding_mode' is not one the compiler knows. " * 4
    refused = {
        "id": "r1s0",
        "origin": "propose",
        "verdict": {"status": "not_covered", "feedback": why},
    }
    failed = {"id": "r1s0", "origin": "propose", "verdict": {"status": "error", "feedback": why}}
    assert _attempt_line("dae/x", refused).endswith(why.strip())
    assert len(_attempt_line("dae/x", failed)) < len(why)
