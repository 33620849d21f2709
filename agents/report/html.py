"""Build DIR/report.html from a solve run's folder.

The page reads offline: figures are inline SVG, programs and prompts are inline text, and
nothing is fetched or scripted. Sections: the run (date, wall time, model), the summary,
speedup per task, the fast_p curve, the best kernel's simulator timeline, then one section
per task — its description and target, a collapsed timeline of its kernel, and the lineage
of its attempts (verdicts with their full feedback; each attempt's prompt, reply and program
collapsed). Everything a reader may want to scan is visible; everything long is one click.
"""

from __future__ import annotations

import json
import time
from html import escape
from pathlib import Path
from typing import Any

from agents.report import plots

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222;
       padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; vertical-align: top; }
th, td:first-child, td.text { text-align: left; }
td.feedback { text-align: left; white-space: pre-wrap; max-width: 40em; }
.passed { color: #2e7d32; font-weight: bold; } .failed { color: #c62828; }
.not_covered { color: #8a6d00; }
.better { color: #2e7d32; } .worse { color: #c62828; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em;
      white-space: pre-wrap; }
figure { margin: 1em 0; } svg { max-width: 100%; height: auto; }
section.task { border-top: 2px solid #ddd; margin-top: 2em; }
details { margin: 0.4em 0; } details details { margin-left: 1.5em; }
summary { cursor: pointer; color: #1a4f8b; }
.meta { color: #555; } .desc { white-space: pre-wrap; }
"""


class ReportError(Exception):
    """The folder is not a solve run (the message says what is missing)."""


def load_run(folder: Path) -> dict[str, Any]:
    """results.json of a run folder, checked: {"run", "tasks", "summary"}."""
    results_path = folder / "results.json"
    if not results_path.is_file():
        raise ReportError(f"{folder} holds no results.json (is it an `agent solve --out` folder?)")
    from agents.workflows.run_folder import DamagedFile, read_results

    try:  # the run folder's own checks: not UTF-8, not JSON, wrong shape -> one line
        return read_results(results_path, need_run=False)
    except DamagedFile as exc:
        raise ReportError(str(exc)) from None


def write_report(folder: Path, output: Path | None = None) -> Path:
    """Write the report and return its path (default: DIR/report.html)."""
    results = load_run(folder)
    entries = results["tasks"]
    try:
        details = {e["task"]: _detail(folder, e) for e in entries}
        command = "agent improve" if results.get("rounds") else "agent solve"
        page = render(results["run"], entries, results["summary"], details, command)
        if results.get("rounds"):  # an `agent improve` run: its rounds after the summary
            page = page.replace(ROUNDS_MARK, rounds_section(results["rounds"]), 1)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # right shape, odd values
        raise ReportError(f"{folder / 'results.json'}: not a results file ({exc!r})") from None
    output = output or folder / "report.html"
    output.write_text(page)
    return output


def _detail(folder: Path, entry: dict[str, Any]) -> dict[str, Any] | None:
    if not entry.get("detail"):
        return None
    path = folder / str(entry["detail"])
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # unreadable, not UTF-8 or not JSON: shown without it
        return None


def render(
    run: dict[str, Any],
    entries: list[dict[str, Any]],
    summary: dict[str, Any],
    details: dict[str, dict[str, Any] | None],
    command: str = "agent solve",
) -> str:
    """The page; `command` names the run in the title (an improve run is not a solve)."""
    suite = escape(str(run.get("suite", "")))
    parts = [
        page_head(f"{command}: {suite}"),
        f"<h1>{command}: {suite}</h1>",
        _run_line(run),
        _summary_table(summary),
        ROUNDS_MARK,
        _task_table(entries, details),
    ]
    if entries:
        parts += [
            "<h2>Speedup per task</h2>",
            _figure(plots.speedup_bars(entries)),
            "<h2>fast_p over p</h2>",
            "<p>fast_p is the share of <em>all</em> tasks whose kernel is correct and more"
            " than p times faster than the task's baseline program; a task that failed or"
            " was not reached counts against it, and a tie (1.00x) is not faster.</p>",
            _figure(plots.fast_p_curve(entries)),
        ]
    parts.append(_best_timeline(entries, details))
    parts.append("<h2>Tasks</h2>")
    for entry in entries:
        parts.append(_task_section(entry, details.get(entry["task"])))
    parts.append("</body></html>")
    return "\n".join(parts)


ROUNDS_MARK = "<!-- rounds -->"


def rounds_section(rounds: list[dict[str, Any]]) -> str:
    """An improve run's rounds: a table (what each round retried, solved and added) and
    the plot over rounds."""
    done = [r for r in rounds if r.get("status") != "planned"]
    if not done:
        return ""
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "round",
            "temperature",
            "retried",
            "solved",
            "pass rate",
            "newly solved",
            "made faster",
            "new verified programs",
            "geomean speedup",
            "cost $",
        )
    )
    rows = []
    for r in done:
        geomean = r.get("geomean_speedup")
        cells = [
            r["round"],
            f"{r['temperature']:g}",
            len(r["tasks"]),
            f"{r['solved']}/{r['total']}",
            f"{r['pass_rate']:.0%}",
            escape(", ".join(r["newly_solved"]) or "-"),
            escape(", ".join(r["faster"]) or "-"),
            r["new_experiences"],
            f"{geomean:.3g}x" if geomean else "-",
            f"{r['cost_usd']:.4f}",
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        "<h2>Rounds</h2><table><tr>"
        + head
        + "</tr>"
        + "".join(rows)
        + "</table>"
        + _figure(plots.improve_rounds(done))
    )


def page_head(title: str) -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{STYLE}</style></head><body>"
    )


def _run_line(run: dict[str, Any]) -> str:
    started, updated = run.get("started"), run.get("updated")
    bits = [
        f"run <code>{escape(str(run.get('run_id', '')))}</code>",
        f"model <code>{escape(str(run.get('model', '')))}</code>",
    ]
    if isinstance(started, int | float):
        bits.append(f"started {date_text(started)}")
        if isinstance(updated, int | float) and updated >= started:
            bits.append(f"wall time {duration_text(updated - started)} (start to last result)")
    return f"<p class='meta'>{', '.join(bits)}</p>"


def date_text(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def duration_text(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{seconds:.1f} s"


def task_seconds(detail: dict[str, Any] | None) -> float | None:
    """Time spent on a task: model calls plus verification, summed over its attempts (with
    parallel samples this exceeds the task's wall-clock time)."""
    if not detail:
        return None
    total = 0.0
    for attempt in detail.get("attempts", []):
        total += float(attempt.get("seconds") or 0.0)
        total += float(((attempt.get("verdict") or {}).get("seconds") or {}).get("total", 0.0))
    return total


def _summary_table(summary: dict[str, Any]) -> str:
    geomean = summary.get("geomean_speedup")
    rows = [
        ("solved", f"{summary['solved']} / {summary['total']}"),
        ("fast_1", f"{summary['fast_1']:.2f}"),
        ("fast_2", f"{summary['fast_2']:.2f}"),
        ("geomean speedup (solved)", f"{geomean:.2f}x" if geomean else "—"),
        ("attempts", str(summary.get("attempts", "—"))),
        ("tokens", str(summary["tokens"])),
        ("cost", f"${summary['cost_usd']:.4f}"),
    ]
    if summary.get("stopped"):
        rows.append(("stopped", escape(str(summary["stopped"]))))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _task_table(entries: list[dict[str, Any]], details: dict[str, Any]) -> str:
    columns = ("task", "status", "cycles", "baseline", "speedup", "attempts", "time", "cost $")
    head = "".join(f"<th>{c}</th>" for c in columns)
    rows = []
    for e in entries:
        css = _state_class(e)
        spent = task_seconds(details.get(e["task"]))
        rows.append(
            f"<tr><td><a href='#{anchor(e['task'])}'>{escape(e['task'])}</a></td>"
            f"<td class='text {css}'>{escape(e['status'])}</td><td>{dash(e['cycles'])}</td>"
            f"<td>{dash(e['baseline_cycles'])}</td><td>{speedup_text(e['speedup'])}</td>"
            f"<td>{e['attempts']}</td>"
            f"<td>{duration_text(spent) if spent is not None else '—'}</td>"
            f"<td>{e['cost_usd']:.4f}</td></tr>"
        )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _best_timeline(entries: list[dict[str, Any]], details: dict[str, Any]) -> str:
    """The timeline of the fastest kernel relative to its baseline (else the first solved)."""
    solved = [e for e in entries if e["correct"]]
    if not solved:
        return "<h2>Best kernel's timeline</h2><p>No task was solved.</p>"
    solved.sort(key=lambda e: -(e["speedup"] or 0.0))
    for entry in solved:
        events = (_best_attempt(details.get(entry["task"])) or {}).get("verdict", {}) or {}
        if events.get("timeline"):
            title = f"{entry['task']}: {entry['cycles']} cycles"
            return f"<h2>Best kernel's timeline: {escape(entry['task'])}</h2>" + _figure(
                plots.timeline(events["timeline"], title)
            )
    return (
        "<h2>Best kernel's timeline</h2><p>The simulator reported no timeline for the"
        " solved tasks.</p>"
    )


def _best_attempt(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    if not detail or not detail.get("best_attempt"):
        return None
    return next((a for a in detail["attempts"] if a["id"] == detail["best_attempt"]), None)


def _task_info(key: str) -> tuple[str, str] | None:
    """The task's description and target, from its file (None when it cannot be found)."""
    from benchmarks.task import TaskError, load_task

    try:
        task = load_task(key)
    except TaskError:
        return None
    return task.description.strip(), task.target


def _state_class(entry: dict[str, Any]) -> str:
    """A refusal (`not_covered`) is shown apart from a failed attempt: nothing was tried."""
    if entry["correct"]:
        return "passed"
    return "not_covered" if entry["status"] == "not_covered" else "failed"


def _task_section(entry: dict[str, Any], detail: dict[str, Any] | None) -> str:
    key = entry["task"]
    state = _state_class(entry)
    parts = [
        f"<section class='task' id='{anchor(key)}'><h3>{escape(key)}"
        f" <span class='{state}'>{escape(entry['status'])}</span></h3>"
    ]
    info = _task_info(key)
    if info is None:
        parts.append("<p class='meta'>(task file not found: no description)</p>")
    else:
        description, target = info
        parts.append(
            f"<p class='meta'>target <code>{escape(target)}</code></p>"
            f"<p class='desc'>{escape(description)}</p>"
        )
    figures = [f"{dash(entry['cycles'])} cycles", f"baseline {dash(entry['baseline_cycles'])}"]
    figures.append(f"speedup {speedup_text(entry['speedup'])}")
    spent = task_seconds(detail)
    if spent is not None:
        figures.append(f"time {duration_text(spent)} (model + checks)")
    parts.append(f"<p>{', '.join(figures)}</p>")
    if not entry["correct"] and entry.get("feedback"):
        why = "Why not covered" if entry["status"] == "not_covered" else "Why not solved"
        parts.append(f"<p>{why}:</p><pre>{escape(str(entry['feedback']))}</pre>")
    if not detail:
        said = "Not attempted." if not entry.get("attempts") else "No attempt details recorded."
        parts.append(f"<p>{said}</p></section>")
        return "\n".join(parts)
    best = _best_attempt(detail)
    verdict = (best or {}).get("verdict") or {}
    if verdict.get("bottleneck"):
        parts.append(f"<p>Simulator: {escape(verdict['bottleneck'])}</p>")
    if verdict.get("timeline"):
        parts.append(
            "<details><summary>timeline of the kernel</summary>"
            + _figure(plots.timeline(verdict["timeline"], f"{key}: {entry['cycles']} cycles"))
            + "</details>"
        )
    parts.append(_lineage(detail))
    parts.append("</section>")
    return "\n".join(parts)


def _lineage(detail: dict[str, Any]) -> str:
    """Attempts in order with their parents; the full feedback in the table, and per
    attempt the prompt, the reply and the program behind one click."""
    columns = ("attempt", "origin", "parent", "status", "cycles", "guardian", "feedback")
    head = "".join(f"<th>{c}</th>" for c in columns)
    rows, bodies = [], []
    for a in detail["attempts"]:
        verdict = a.get("verdict") or {}
        feedback = str(verdict.get("feedback", ""))
        if a.get("duplicate_of"):
            feedback = f"(same program as {a['duplicate_of']}: its verdict) {feedback}"
        marker = " ★" if a["id"] == detail.get("best_attempt") else ""
        rows.append(
            f"<tr><td>{escape(a['id'])}{marker}</td><td class='text'>{escape(a['origin'])}</td>"
            f"<td>{escape(str(a.get('parent') or '—'))}</td>"
            f"<td class='text'>{escape(str(verdict.get('status')))}</td>"
            f"<td>{dash(verdict.get('cycles'))}</td>"
            f"<td class='text'>{escape(str(a.get('guardian', '')))}</td>"
            f"<td class='feedback'>{escape(feedback)}</td></tr>"
        )
        bodies.append(_attempt_body(a))
    return (
        f"<table><tr>{head}</tr>{''.join(rows)}</table>"
        f"<details><summary>prompts, replies and programs ({len(bodies)} attempts)</summary>"
        + "".join(bodies)
        + "</details>"
    )


def _attempt_body(attempt: dict[str, Any]) -> str:
    parent = f" from {escape(attempt['parent'])}" if attempt.get("parent") else ""
    inner = []
    for message in attempt.get("prompt") or []:
        inner.append(
            f"<p>prompt ({escape(str(message.get('role')))}):</p>"
            f"<pre>{escape(str(message.get('content', '')))}</pre>"
        )
    if not attempt.get("prompt"):
        inner.append("<p>(no prompt recorded for this attempt)</p>")
    if attempt.get("reply") is not None:
        inner.append(f"<p>reply:</p><pre>{escape(attempt['reply'])}</pre>")
    if attempt.get("program"):
        inner.append(f"<p>program:</p><pre>{escape(attempt['program'])}</pre>")
    elif attempt.get("reason"):
        inner.append(f"<p>no program: {escape(attempt['reason'])}</p>")
    return (
        f"<details><summary>{escape(attempt['id'])}: {escape(attempt['origin'])}{parent}"
        f"</summary>{''.join(inner)}</details>"
    )


def _figure(svg: str) -> str:
    return f"<figure>{svg}</figure>"


def anchor(task: str) -> str:
    return "task-" + "".join(c if c.isalnum() else "-" for c in task)


def dash(value: Any) -> str:
    return "—" if value is None else escape(str(value))


def speedup_text(value: float | None) -> str:
    return "—" if not value else f"{value:.2f}x"
