"""The solve progress display: plain lines off a terminal, a live table on one."""

from __future__ import annotations

import io

from rich.console import Console

from agents.solve_display import SolveDisplay, closing_table, summary_line
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
        "[1/2] step/gemm  passed  420 cycles  2.00x  3 attempts  $1.2500",
    ]
    assert "\x1b" not in buffer.getvalue()


def test_live_table_on_a_terminal_and_the_closing_table() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    display = SolveDisplay(console)
    assert display.live_mode
    results = _drive(display)
    drawn = buffer.getvalue()
    assert "step/rope" in drawn and "waiting" in drawn and "420" in drawn
    assert "[1/2]" not in drawn  # no plain lines in live mode

    buffer = io.StringIO()
    Console(file=buffer, width=120).print(closing_table(results))
    table = buffer.getvalue()
    assert "step/gemm" in table and "2.00x" in table and "not_run" in table
    assert summary_line(results["summary"]) == (
        "solved 1/2  fast_1 0.50 (1)  fast_2 0.00 (0)  geomean speedup 2.00x"
        "  tokens 7  cost $1.2500"
    )
