"""What `agent solve` shows while it runs, and the table it closes with.

On a terminal: a live table (per task: attempts, status, best cycles, speedup, cost) that
the closing table replaces. Elsewhere (a pipe, a CI log): no animation, one plain line per
checked attempt and per finished task, so logs read top to bottom.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from agents.workflows import attempts as at
from agents.workflows.attempts import Attempt
from agents.workflows.run import Progress

_COLOURS = {
    "passed": "green",
    "incorrect": "red",
    "invalid": "red",
    "error": "red",
    "timeout": "yellow",
    "rejected": "magenta",
    "not_run": "dim",
}


class SolveDisplay(Progress):
    """Live progress of a solve run (thread-safe: attempts arrive from worker threads)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self.live_mode = self.console.is_terminal
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, Any]] = {}
        self._order: list[str] = []
        self._live: Live | None = None
        self._done = 0

    # -- Progress

    def start(self, run: dict[str, Any], tasks: list[str]) -> None:
        self._order = list(tasks)
        self._rows = {
            key: {"status": "waiting", "attempts": 0, "cycles": None, "speedup": None, "cost": 0.0}
            for key in tasks
        }
        if self.live_mode:
            self._live = Live(
                self._table(), console=self.console, refresh_per_second=4, transient=True
            )
            self._live.start()

    def task_started(self, task: str, attempts: dict[str, Attempt]) -> None:
        with self._lock:
            row = self._rows[task]
            row["status"] = "running"
            for attempt in attempts.values():
                self._count(row, attempt)
            self._refresh()

    def attempt(self, task: str, attempt: Attempt) -> None:
        if not attempt.get("verdict"):
            return  # generated, not checked yet
        with self._lock:
            self._count(self._rows[task], attempt)
            self._refresh()
            if not self.live_mode:
                self.console.print(
                    _attempt_line(task, attempt), markup=False, highlight=False, soft_wrap=True
                )

    def task_done(self, task: str, entry: dict[str, Any]) -> None:
        with self._lock:
            row = self._rows[task]
            row.update(
                status=entry["status"],
                attempts=entry["attempts"],
                cycles=entry["cycles"],
                speedup=entry["speedup"],
                cost=entry["cost_usd"],
            )
            self._done += 1
            self._refresh()
            if not self.live_mode:
                self.console.print(
                    f"[{self._done}/{len(self._order)}] {task_line(entry)}",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )

    def finish(self, summary: dict[str, Any]) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # -- drawing

    def _count(self, row: dict[str, Any], attempt: Attempt) -> None:
        row["attempts"] += 1
        row["cost"] += attempt.get("cost_usd", 0.0)
        if at.passed(attempt):
            cycles = at.cycles(attempt)
            if row["cycles"] is None or cycles < row["cycles"]:
                row["cycles"] = cycles
                row["status"] = "running (passed)"

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._table())

    def _table(self) -> Table:
        table = Table(title="agent solve", expand=False)
        for column in ("task", "status", "attempts", "best cycles", "speedup", "cost $"):
            table.add_column(column, justify="left" if column in ("task", "status") else "right")
        for key in self._order:
            row = self._rows[key]
            status = row["status"]
            colour = _COLOURS.get(status, "cyan")
            table.add_row(
                key,
                f"[{colour}]{status}[/]",
                str(row["attempts"]),
                _or_dash(row["cycles"]),
                _speedup(row["speedup"]),
                f"{row['cost']:.4f}",
            )
        return table


def closing_table(results: dict[str, Any]) -> Table:
    """Per-task results (the summary line is printed under it: `summary_line`)."""
    table = Table(title=f"results: {results['run'].get('suite', '')}")
    table.add_column("task", overflow="fold")  # a long name wraps, never loses its end
    for column in ("status", "cycles", "baseline", "speedup", "attempts", "cost $"):
        table.add_column(column, justify="left" if column == "status" else "right")
    for entry in results["tasks"]:
        colour = _COLOURS.get(entry["status"], "white")
        table.add_row(
            entry["task"],
            f"[{colour}]{entry['status']}[/]",
            _or_dash(entry["cycles"]),
            _or_dash(entry["baseline_cycles"]),
            _speedup(entry["speedup"]),
            str(entry["attempts"]),
            f"{entry['cost_usd']:.4f}",
        )
    return table


def summary_line(summary: dict[str, Any]) -> str:
    total = summary["total"] or 1
    geomean = summary["geomean_speedup"]
    line = (
        f"solved {summary['solved']}/{summary['total']}"
        f"  fast_1 {summary['fast_1']:.2f} ({round(summary['fast_1'] * total)})"
        f"  fast_2 {summary['fast_2']:.2f} ({round(summary['fast_2'] * total)})"
        f"  geomean speedup {_speedup(geomean)}"
        f"  tokens {summary['tokens']}  cost ${summary['cost_usd']:.4f}"
    )
    if summary.get("stopped"):
        line += f"  (stopped: {summary['stopped']})"
    return line


def task_line(entry: dict[str, Any]) -> str:
    parts = [entry["task"], entry["status"]]
    if entry["cycles"] is not None:
        parts.append(f"{entry['cycles']} cycles")
    if entry["speedup"] is not None:
        parts.append(_speedup(entry["speedup"]))
    parts.append(f"{entry['attempts']} attempts")
    parts.append(f"${entry['cost_usd']:.4f}")
    return "  ".join(parts)


def _attempt_line(task: str, attempt: Attempt) -> str:
    verdict = attempt.get("verdict") or {}
    text = f"  {task} {attempt['id']} {attempt['origin']}: {verdict.get('status')}"
    if attempt.get("duplicate_of"):
        text += f" (same program as {attempt['duplicate_of']})"
    elif at.passed(attempt):
        text += f" {at.cycles(attempt)} cycles"
    elif verdict.get("feedback"):
        text += f" — {' '.join(str(verdict['feedback']).split())[:120]}"
    return text


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


def _speedup(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"
