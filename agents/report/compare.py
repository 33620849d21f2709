"""`agent report RUN_A RUN_B`: one page comparing two solve runs task by task.

What changed between two runs is what a user tuning a model, a prompt or a setting wants
to see: which tasks became solved or unsolved, which kernels got faster, and the summary
side by side. A task present in only one run is listed with a dash for the other.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from agents.report.html import (
    anchor,
    dash,
    date_text,
    duration_text,
    load_run,
    page_head,
    speedup_text,
)


def write_comparison(run_a: Path, run_b: Path, output: Path | None = None) -> Path:
    """Write the comparison (default: RUN_B/compare.html) and return its path."""
    first, second = load_run(run_a), load_run(run_b)
    page = render_comparison((run_a, first), (run_b, second))
    output = output or run_b / "compare.html"
    output.write_text(page)
    return output


def change(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    """One word for what happened to a task from run A to run B."""
    if a is None or b is None:
        return "only in B" if a is None else "only in A"
    if a["correct"] != b["correct"]:
        return "newly solved" if b["correct"] else "lost"
    if not b["correct"]:
        return "still unsolved"
    if a["cycles"] == b["cycles"]:
        return "same"
    return "faster" if b["cycles"] < a["cycles"] else "slower"


def render_comparison(
    first: tuple[Path, dict[str, Any]], second: tuple[Path, dict[str, Any]]
) -> str:
    (path_a, a), (path_b, b) = first, second
    by_a = {e["task"]: e for e in a["tasks"]}
    by_b = {e["task"]: e for e in b["tasks"]}
    keys = list(by_a) + [k for k in by_b if k not in by_a]
    counts: dict[str, int] = {}
    rows = []
    for key in keys:
        ea, eb = by_a.get(key), by_b.get(key)
        what = change(ea, eb)
        counts[what] = counts.get(what, 0) + 1
        css = {"newly solved": "better", "faster": "better", "lost": "worse", "slower": "worse"}
        ratio = (
            f"{ea['cycles'] / eb['cycles']:.2f}x"
            if ea and eb and ea["correct"] and eb["correct"] and eb["cycles"]
            else "—"
        )
        rows.append(
            f"<tr><td id='{anchor(key)}'>{escape(key)}</td>"
            f"<td class='text'>{_status(ea)}</td><td>{dash(ea and ea['cycles'])}</td>"
            f"<td class='text'>{_status(eb)}</td><td>{dash(eb and eb['cycles'])}</td>"
            f"<td>{ratio}</td><td class='text {css.get(what, '')}'>{what}</td></tr>"
        )
    head = "".join(
        f"<th>{c}</th>"
        for c in ("task", "A status", "A cycles", "B status", "B cycles", "B vs A", "change")
    )
    tally = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
    return "\n".join(
        [
            page_head("agent report: two runs"),
            "<h1>Two runs compared</h1>",
            _runs_table((path_a, a), (path_b, b)),
            f"<p>{escape(tally)}. <em>B vs A</em> is A's cycles over B's: above 1.00x, run B's"
            " kernel is faster.</p>",
            f"<table><tr>{head}</tr>{''.join(rows)}</table>",
            "</body></html>",
        ]
    )


def _runs_table(*runs: tuple[Path, dict[str, Any]]) -> str:
    def row(label: str, cell: Any) -> str:
        return f"<tr><th>{label}</th>" + "".join(f"<td>{cell(r)}</td>" for r in runs) + "</tr>"

    def started(r: tuple[Path, dict[str, Any]]) -> str:
        value = r[1]["run"].get("started")
        return date_text(value) if isinstance(value, int | float) else "—"

    def wall(r: tuple[Path, dict[str, Any]]) -> str:
        run = r[1]["run"]
        begin, end = run.get("started"), run.get("updated")
        if isinstance(begin, int | float) and isinstance(end, int | float) and end >= begin:
            return duration_text(end - begin)
        return "—"

    def summary(name: str, fmt: str = "{}") -> Any:
        return lambda r: fmt.format(r[1]["summary"][name])

    return (
        "<table><tr><th></th><th>A</th><th>B</th></tr>"
        + row("folder", lambda r: f"<code>{escape(str(r[0]))}</code>")
        + row("model", lambda r: f"<code>{escape(str(r[1]['run'].get('model', '')))}</code>")
        + row("started", started)
        + row("wall time", wall)
        + row("solved", lambda r: f"{r[1]['summary']['solved']} / {r[1]['summary']['total']}")
        + row("fast_1", summary("fast_1", "{:.2f}"))
        + row("fast_2", summary("fast_2", "{:.2f}"))
        + row("geomean speedup", lambda r: speedup_text(r[1]["summary"].get("geomean_speedup")))
        + row("cost", summary("cost_usd", "${:.4f}"))
        + "</table>"
    )


def _status(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "—"
    css = "passed" if entry["correct"] else "failed"
    return f"<span class='{css}'>{escape(entry['status'])}</span>"
