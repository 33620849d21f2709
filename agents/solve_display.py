"""What `agent solve` shows while it runs, and the table it closes with.

On a terminal: a live view that fits the screen — a header (tasks done / total, elapsed
time, the tasks being worked on) over a table of the running and most recently finished
tasks — which the closing table replaces. Elsewhere (a pipe, a CI log): no animation, one
plain line per checked attempt and per finished task, so logs read top to bottom.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from agents.workflows import attempts as at
from agents.workflows.attempts import RunAttempt
from agents.workflows.run import Progress

_COLOURS = {
    "passed": "green",
    "incorrect": "red",
    "invalid": "red",
    "error": "red",
    "timeout": "yellow",
    "rejected": "magenta",
    "not_run": "dim",
    "not_covered": "yellow",  # the model declined (builtin compiler): not a failure to retry
}


class SolveDisplay(Progress):
    """Live progress of a solve run (thread-safe: attempts arrive from worker threads)."""

    def __init__(
        self, console: Console | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.console = console or Console()
        self.live_mode = self.console.is_terminal
        # Re-entrant: the live view renders (under the lock) from rich's refresh thread.
        self._lock = threading.RLock()
        self._rows: dict[str, dict[str, Any]] = {}
        self._order: list[str] = []
        self._finished: list[str] = []  # in the order tasks finished
        self._live: Live | None = None
        self._done = 0
        self._clock = clock  # injectable, so tests can read a known elapsed time
        self._started = clock()

    # -- Progress

    def start(self, run: dict[str, Any], tasks: list[str]) -> None:
        self._order = list(tasks)
        self._rows = {
            key: {"status": "waiting", "attempts": 0, "cycles": None, "speedup": None, "cost": 0.0}
            for key in tasks
        }
        self._started = self._clock()
        if self.live_mode:
            # get_renderable: redrawn 4 times a second, so the clock ticks between events.
            # Events never redraw it themselves: they hold this display's lock, and a redraw
            # from them would take rich's lock in the opposite order to the refresh thread.
            self._live = Live(
                get_renderable=self.view,
                console=self.console,
                refresh_per_second=4,
                transient=True,
            )
            self._live.start()

    def task_started(self, task: str, attempts: dict[str, RunAttempt]) -> None:
        with self._lock:
            row = self._rows[task]
            row["status"] = "running"
            for attempt in attempts.values():
                self._count(row, attempt)

    def attempt(self, task: str, attempt: RunAttempt) -> None:
        if not attempt.get("verdict"):
            return  # generated, not checked yet
        with self._lock:
            self._count(self._rows[task], attempt)
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
            self._finished.append(task)
            if not self.live_mode:
                self.console.print(
                    f"[{self._done}/{len(self._order)} {_clock(self.elapsed())}] {task_line(entry)}",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )

    def finish(self, summary: dict[str, Any]) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # -- drawing

    def _count(self, row: dict[str, Any], attempt: RunAttempt) -> None:
        row["attempts"] += 1
        row["cost"] += attempt.get("cost_usd", 0.0)
        if at.passed(attempt):
            cycles = at.cycles(attempt)
            if row["cycles"] is None or cycles < row["cycles"]:
                row["cycles"] = cycles
                row["status"] = "running (passed)"

    def elapsed(self) -> float:
        return self._clock() - self._started

    def view(self) -> Group:
        """Header and table, cut to the terminal's height: the running tasks first, then
        the latest finished, then a count of the rest (never a bare `...`)."""
        with self._lock:
            running = [k for k in self._order if self._rows[k]["status"].startswith("running")]
            waiting = sum(1 for k in self._order if self._rows[k]["status"] == "waiting")
            header = Text(
                f"agent solve: {self._done}/{len(self._order)} done, {_clock(self.elapsed())}"
                f" elapsed; now: {', '.join(running) or '-'}",
                style="bold",
            )
            room = max(3, self.console.height - 8)  # header, table frame, footer
            shown = running[:room]
            shown += list(reversed(self._finished))[: room - len(shown)]
            hidden = len(self._order) - len(shown)
            parts: list[Any] = [header, self._table(shown)]
            if hidden:
                parts.append(
                    Text(
                        f"+ {hidden} more tasks ({waiting} waiting,"
                        f" {self._done - len(shown) + len(running)} finished earlier);"
                        " all of them are listed when the run ends",
                        style="dim",
                    )
                )
            return Group(*parts)

    def _table(self, keys: list[str]) -> Table:
        table = Table(expand=False, box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
        table.add_column("task", no_wrap=True, min_width=max(map(len, self._order), default=4))
        for column in ("status", "attempts", "best cycles", "speedup", "cost $"):
            table.add_column(column, justify="left" if column == "status" else "right")
        for key in keys:
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
    # Names are never cut or folded (they are what users type back): light borders, and no
    # cost column for a run that cost nothing, let 80 columns hold the longest name.
    costs = any(entry["cost_usd"] for entry in results["tasks"])
    longest = max((len(e["task"]) for e in results["tasks"]), default=4)
    table = Table(
        title=f"results: {results['run'].get('suite', '')}",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column("task", no_wrap=True, min_width=longest)
    table.add_column("status", no_wrap=True)
    for column in ("cycles", "baseline", "speedup", "attempts") + (("cost $",) if costs else ()):
        table.add_column(column, justify="right")
    for entry in results["tasks"]:
        colour = _COLOURS.get(entry["status"], "white")
        cells = [
            entry["task"],
            f"[{colour}]{entry['status']}[/]"
            + (" (memory)" if entry.get("source") == "memory" else ""),
            _or_dash(entry["cycles"]),
            _or_dash(entry["baseline_cycles"]),
            _speedup(entry["speedup"]),
            str(entry["attempts"]),
        ]
        table.add_row(*cells, *([f"{entry['cost_usd']:.4f}"] if costs else []))
    return table


def summary_line(summary: dict[str, Any]) -> str:
    total = summary["total"] or 1
    geomean = summary["geomean_speedup"]
    recalled = summary.get("solved_from_memory", 0)
    solved = f"solved {summary['solved']}/{summary['total']}"
    if recalled:
        solved += f" ({summary['solved'] - recalled} new, {recalled} recalled from memory)"
    tokens = f"tokens {summary['tokens']}"
    if summary.get("tokens_estimated"):
        tokens = f"tokens ~{summary['tokens']} (estimated)"
    line = (
        f"{solved}"
        f"  fast_1 {summary['fast_1']:.2f} ({round(summary['fast_1'] * total)})"
        f"  fast_2 {summary['fast_2']:.2f} ({round(summary['fast_2'] * total)})"
        f"  geomean speedup {_speedup(geomean)}"
        f"  {tokens}  cost ${summary['cost_usd']:.4f}"
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


def _attempt_line(task: str, attempt: RunAttempt) -> str:
    verdict = attempt.get("verdict") or {}
    text = f"  {task} {attempt['id']} {attempt['origin']}: {verdict.get('status')}"
    if attempt.get("duplicate_of"):
        text += f" (same program as {attempt['duplicate_of']})"
    elif at.passed(attempt):
        text += f" {at.cycles(attempt)} cycles"
    elif verdict.get("feedback"):
        said = " ".join(str(verdict["feedback"]).split())
        text += f" — {said if verdict.get('status') == at.NOT_COVERED else said[:120]}"
    return text


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


def _speedup(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def summary_notes(results: dict[str, Any], report_hint: str) -> list[str]:
    """Plain-language lines under the summary: what fast_p means and why tasks failed,
    so a first run's `fast_1 0.00` or its errors need no guessing."""
    entries, summary = results["tasks"], results["summary"]
    notes = [
        f"fast_p: share of all {summary['total']} tasks whose kernel is correct and more than"
        " p times faster than the task's baseline program (fast_1: beats it; a tie does not)."
    ]
    speedups = [e["speedup"] for e in entries if e["correct"] and e["speedup"] is not None]
    builtin = results["run"].get("model") == "builtin"
    if builtin and speedups and all(abs(s - 1.0) < 1e-9 for s in speedups):
        notes.append(
            "Every solved kernel ties its baseline (1.00x): the baselines are the builtin"
            " compilers' programs, so only another model can beat them."
        )
    recalled = summary.get("solved_from_memory", 0)
    if recalled:
        notes.append(
            f"{recalled} solved task(s) marked (memory) were recalled from the experience store"
            " (an earlier run's program, re-verified), not written by the model this run;"
            " `--memory none` measures the model alone."
        )
    failed: dict[str, int] = {}
    for entry in entries:
        if not entry["correct"]:
            failed[entry["status"]] = failed.get(entry["status"], 0) + 1
    if failed:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(failed.items()))
        notes.append(
            f"Not solved: {counts}. Each task's feedback says why"
            + (
                " (not_covered: the model declined the task, whole reason in the report)"
                if at.NOT_COVERED in failed
                else ""
            )
            + f"; full text in {report_hint}."
        )
    return notes
