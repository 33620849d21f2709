"""Build DIR/report.html from a solve run's folder.

The page reads offline: figures are inline SVG, programs are inline text, and nothing is
fetched. Sections: the summary, speedup per task, the fast_p curve, the best kernel's
simulator timeline, and per task its attempts (lineage, verdicts) and best program.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from agents.report import plots

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
.passed { color: #2e7d32; font-weight: bold; } .failed { color: #c62828; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
figure { margin: 1em 0; } svg { max-width: 100%; height: auto; }
"""


class ReportError(Exception):
    """The folder is not a solve run (the message says what is missing)."""


def write_report(folder: Path, output: Path | None = None) -> Path:
    """Write the report and return its path (default: DIR/report.html)."""
    results_path = folder / "results.json"
    if not results_path.is_file():
        raise ReportError(f"{folder} holds no results.json (is it an `agent solve --out` folder?)")
    try:
        results = json.loads(results_path.read_text())
        entries, summary, run = results["tasks"], results["summary"], results.get("run", {})
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ReportError(f"{results_path}: not a results file ({exc})") from None
    details = {e["task"]: _detail(folder, e) for e in entries}
    page = render(run, entries, summary, details)
    output = output or folder / "report.html"
    output.write_text(page)
    return output


def _detail(folder: Path, entry: dict[str, Any]) -> dict[str, Any] | None:
    if not entry.get("detail"):
        return None
    path = folder / entry["detail"]
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def render(
    run: dict[str, Any],
    entries: list[dict[str, Any]],
    summary: dict[str, Any],
    details: dict[str, dict[str, Any] | None],
) -> str:
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>agent solve:"
        f" {escape(str(run.get('suite', '')))}</title><style>{_STYLE}</style></head><body>",
        f"<h1>agent solve: {escape(str(run.get('suite', '')))}</h1>",
        f"<p>run <code>{escape(str(run.get('run_id', '')))}</code>, model"
        f" <code>{escape(str(run.get('model', '')))}</code></p>",
        _summary_table(summary),
        _task_table(entries),
    ]
    if entries:
        parts += [
            "<h2>Speedup per task</h2>",
            _figure(plots.speedup_bars(entries)),
            "<h2>fast_p over p</h2>",
            _figure(plots.fast_p_curve(entries)),
        ]
    parts.append(_best_timeline(entries, details))
    parts.append("<h2>Tasks</h2>")
    for entry in entries:
        parts.append(_task_section(entry, details.get(entry["task"])))
    parts.append("</body></html>")
    return "\n".join(parts)


def _summary_table(summary: dict[str, Any]) -> str:
    geomean = summary.get("geomean_speedup")
    rows = [
        ("solved", f"{summary['solved']} / {summary['total']}"),
        ("fast_1", f"{summary['fast_1']:.2f}"),
        ("fast_2", f"{summary['fast_2']:.2f}"),
        ("geomean speedup (solved)", f"{geomean:.2f}x" if geomean else "-"),
        ("attempts", str(summary.get("attempts", "-"))),
        ("tokens", str(summary["tokens"])),
        ("cost", f"${summary['cost_usd']:.4f}"),
    ]
    if summary.get("stopped"):
        rows.append(("stopped", escape(str(summary["stopped"]))))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _task_table(entries: list[dict[str, Any]]) -> str:
    head = "".join(
        f"<th>{c}</th>"
        for c in ("task", "status", "cycles", "baseline", "speedup", "attempts", "cost $")
    )
    rows = []
    for e in entries:
        css = "passed" if e["correct"] else "failed"
        speedup = f"{e['speedup']:.2f}x" if e["speedup"] else "-"
        rows.append(
            f"<tr><td><a href='#{_anchor(e['task'])}'>{escape(e['task'])}</a></td>"
            f"<td class='text {css}'>{escape(e['status'])}</td><td>{_dash(e['cycles'])}</td>"
            f"<td>{_dash(e['baseline_cycles'])}</td>"
            f"<td>{speedup}</td>"
            f"<td>{e['attempts']}</td><td>{e['cost_usd']:.4f}</td></tr>"
        )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _best_timeline(entries: list[dict[str, Any]], details: dict[str, Any]) -> str:
    """The timeline of the fastest kernel relative to its baseline (else the first solved)."""
    solved = [e for e in entries if e["correct"]]
    if not solved:
        return "<h2>Best kernel's timeline</h2><p>No task was solved.</p>"
    solved.sort(key=lambda e: -(e["speedup"] or 0.0))
    for entry in solved:
        verdict = _best_verdict(details.get(entry["task"]))
        events = (verdict or {}).get("timeline") or []
        if events:
            title = f"{entry['task']}: {entry['cycles']} cycles"
            return f"<h2>Best kernel's timeline: {escape(entry['task'])}</h2>" + _figure(
                plots.timeline(events, title)
            )
    return (
        "<h2>Best kernel's timeline</h2><p>The simulator reported no timeline for the"
        " solved tasks.</p>"
    )


def _best_verdict(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    if not detail or not detail.get("best_attempt"):
        return None
    for attempt in detail["attempts"]:
        if attempt["id"] == detail["best_attempt"]:
            return attempt.get("verdict")
    return None


def _task_section(entry: dict[str, Any], detail: dict[str, Any] | None) -> str:
    parts = [
        f"<h3 id='{_anchor(entry['task'])}'>{escape(entry['task'])}"
        f" <span class='{'passed' if entry['correct'] else 'failed'}'>"
        f"{escape(entry['status'])}</span></h3>"
    ]
    if not detail:
        return parts[0] + "<p>Not attempted.</p>"
    head = "".join(
        f"<th>{c}</th>"
        for c in ("attempt", "origin", "parent", "status", "cycles", "guardian", "feedback")
    )
    rows = []
    for a in detail["attempts"]:
        verdict = a.get("verdict") or {}
        feedback = " ".join(str(verdict.get("feedback", "")).split())[:200]
        rows.append(
            f"<tr><td>{escape(a['id'])}</td><td class='text'>{escape(a['origin'])}</td>"
            f"<td>{escape(str(a.get('parent') or '-'))}</td>"
            f"<td class='text'>{escape(str(verdict.get('status')))}</td>"
            f"<td>{_dash(verdict.get('cycles'))}</td>"
            f"<td class='text'>{escape(str(a.get('guardian', '')))}</td>"
            f"<td class='text'>{escape(feedback)}</td></tr>"
        )
    parts.append(f"<table><tr>{head}</tr>{''.join(rows)}</table>")
    best = next((a for a in detail["attempts"] if a["id"] == detail.get("best_attempt")), None)
    if best is not None and best.get("program"):
        bottleneck = (best.get("verdict") or {}).get("bottleneck")
        if bottleneck:
            parts.append(f"<p>Simulator: {escape(bottleneck)}</p>")
        parts.append(
            f"<details><summary>best program ({escape(best['id'])})</summary>"
            f"<pre>{escape(best['program'])}</pre></details>"
        )
    return "\n".join(parts)


def _figure(svg: str) -> str:
    return f"<figure>{svg}</figure>"


def _anchor(task: str) -> str:
    return "task-" + "".join(c if c.isalnum() else "-" for c in task)


def _dash(value: Any) -> str:
    return "-" if value is None else escape(str(value))
