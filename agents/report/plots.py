"""The report's figures, drawn with matplotlib and returned as inline SVG text.

Each function takes plain data (from results.json and the task detail files) so the page
needs no network and no files beside it.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

_OK, _BAD, _REF = "#2e7d32", "#c62828", "#555555"


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prologue and doctype: inline in HTML


def speedup_bars(entries: list[dict[str, Any]]) -> str:
    """Speedup over the baseline per task; unsolved tasks drawn as a red mark at 0."""
    names = [e["task"] for e in entries]
    values = [e["speedup"] if e["correct"] and e["speedup"] else 0.0 for e in entries]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(entries) + 2), 3.4))
    colours = [_OK if v > 0 else _BAD for v in values]
    ax.bar(range(len(values)), values, color=colours)
    for i, v in enumerate(values):
        if v == 0:
            ax.plot(i, 0, marker="x", color=_BAD)
    ax.axhline(1.0, color=_REF, linestyle="--", linewidth=1, label="baseline (1x)")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("speedup over baseline")
    ax.set_title("speedup per task (x: not solved)")
    ax.legend(loc="upper right", fontsize=8)
    return _svg(fig)


def fast_p_curve(entries: list[dict[str, Any]]) -> str:
    """fast_p over p: the fraction of all tasks correct and more than p times faster."""
    speedups = sorted(e["speedup"] for e in entries if e["correct"] and e["speedup"])
    top = max([2.0, *speedups]) * 1.1
    grid = [top * i / 400 for i in range(401)]
    total = max(1, len(entries))
    fractions = [sum(1 for s in speedups if s > p) / total for p in grid]
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.step(grid, fractions, where="post", color=_OK)
    for p in (1.0, 2.0):
        ax.axvline(p, color=_REF, linestyle=":", linewidth=1)
    ax.set_xlabel("p (speedup threshold)")
    ax.set_ylabel("fast_p")
    ax.set_ylim(0, 1.02)
    ax.set_title("fast_p: share of tasks correct and > p x faster")
    return _svg(fig)


def timeline(events: list[list[Any]], title: str, limit_ops: int = 40) -> str:
    """The simulator's timeline as a Gantt chart: one row per op, a bar per busy span."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for op, start, end in events:
        spans.setdefault(str(op), []).append((float(start), max(float(end) - float(start), 0.5)))
    ops = sorted(spans, key=lambda o: min(s for s, _ in spans[o]))[:limit_ops]
    fig, ax = plt.subplots(figsize=(7.5, max(2.0, 0.32 * len(ops) + 1.2)))
    for row, op in enumerate(ops):
        ax.broken_barh(spans[op], (row - 0.4, 0.8), color=_OK)
    ax.set_yticks(range(len(ops)), ops, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("cycle")
    ax.set_title(title)
    return _svg(fig)


def improve_rounds(rounds: list[dict[str, Any]]) -> str:
    """An improve run over its rounds: pass rate (left axis) and the geometric-mean speedup
    of the solved tasks (right axis)."""
    done = [r for r in rounds if r.get("status") != "planned"]
    numbers = [r["round"] for r in done]
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.plot(numbers, [r["pass_rate"] for r in done], marker="o", color=_OK, label="pass rate")
    ax.set_xlabel("round")
    ax.set_ylabel("pass rate")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(numbers)
    speed = ax.twinx()
    speed.plot(
        numbers,
        [r.get("geomean_speedup") or 0.0 for r in done],
        marker="s",
        linestyle="--",
        color=_REF,
        label="geomean speedup",
    )
    speed.set_ylabel("geomean speedup (solved tasks)")
    ax.set_title("improve: pass rate and speedup per round")
    lines = ax.get_legend_handles_labels()[0] + speed.get_legend_handles_labels()[0]
    ax.legend(lines, ["pass rate", "geomean speedup"], loc="lower right", fontsize=8)
    return _svg(fig)
