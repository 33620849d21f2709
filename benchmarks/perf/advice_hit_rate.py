"""How often the simulator's bottleneck advice, applied as written, lowers the cycles.

    python -m benchmarks.perf.advice_hit_rate [SUITE ...] [--tasks NAME ...] [--json]

For every task of the suites (default: step) the baseline is verified and timed; the
bottleneck sentence is read for a change that can be made without judgement — "raise its
compute= from A to B" on the op it names (the line of the source it quotes), "larger
tiles" (the kernel's first tile parameter doubled), "smaller tiles" (halved) — that change
is made to the text, and the new program is verified and timed on the same inputs. A hit
is a change that still passes and takes fewer cycles. Advice that needs judgement (reuse
tiles on chip, cut re-reads) counts as not mechanical, apart from the rate.

The sentence is parsed, not asked for structurally, so the same script measures any
version of the advice: run it with `PYTHONPATH=/work/before` from another tree for the
"before" figure.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import time

from benchmarks.task import Task, load_suite
from interpreter.verifier import verify

SEED = 11
_LABEL = re.compile(r"\b(\w+) \(node (\d+), line (\d+)\)")
_RAISE = re.compile(r"raise its compute= from (\d+) to (\d+)")
_TILE = re.compile(r"(def kernel\([^)]*?\btile_\w+=)(\d+)", re.S)


def mechanical_change(advice: str, source: str) -> tuple[str, str] | None:
    """(what, new source) for the advice's mechanical change, or None when it has none."""
    label = _LABEL.search(advice)
    more = _RAISE.search(advice)
    if label and more:
        line = int(label.group(3))
        new = _with_compute(source, line, int(more.group(2)))
        return None if new is None else (f"compute={more.group(2)} on line {line}", new)
    for words, factor in (("larger tile", 2.0), ("larger ones", 2.0), ("smaller tiles", 0.5)):
        if words in advice:
            tile = _TILE.search(source)
            if tile is None:
                return None
            size = max(1, int(int(tile.group(2)) * factor))
            what = f"{tile.group(1).split('(')[-1].split(',')[-1].strip()}{size}"
            return what, source[: tile.start(2)] + str(size) + source[tile.end(2) :]
    return None


def _with_compute(source: str, line: int, units: int) -> str | None:
    """`source` with compute=`units` on the call on `line` (replaced or added)."""
    lines = source.splitlines()
    if not 1 <= line <= len(lines):
        return None
    text = lines[line - 1]
    code, hash_, comment = text.partition("  #")
    if "compute=" in code:
        code = re.sub(r"compute=\w+", f"compute={units}", code)
    elif code.rstrip().endswith(")"):
        code = code.rstrip()[:-1] + f", compute={units})"
    else:
        return None
    lines[line - 1] = code + hash_ + comment
    return "\n".join(lines) + "\n"


def _verify(task: Task, source: str):
    kwargs = {"seed": SEED, "seeds": 1}
    if "timing_seed" in inspect.signature(verify).parameters:
        kwargs["timing_seed"] = SEED
    return verify(task, source, **kwargs)


def measure(task: Task) -> dict:
    start = time.perf_counter()
    source = task.baseline_source()
    row: dict = {"task": task.key, "kind": "no baseline"}
    if source is None:
        return row
    before = _verify(task, source)
    row.update(cycles=before.cycles, advice=before.bottleneck, kind="not passed")
    if before.correct:
        change = mechanical_change(before.bottleneck, source)
        row["kind"] = "not mechanical" if change is None else "applied"
        if change is not None:
            after = _verify(task, change[1])
            row.update(change=change[0], status=after.status, new_cycles=after.cycles)
            row["hit"] = bool(after.correct and after.cycles < before.cycles)
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def summary(rows: list[dict]) -> dict:
    applied = [r for r in rows if r["kind"] == "applied"]
    hits = sum(r["hit"] for r in applied)
    return {
        "tasks": len(rows),
        "applied": len(applied),
        "hits": hits,
        "not_mechanical": sum(r["kind"] == "not mechanical" for r in rows),
        "hit_rate": hits / len(applied) if applied else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", default=["step"])
    parser.add_argument("--tasks", nargs="*", help="only these task names")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    tasks = [
        t
        for suite in args.suites
        for t in load_suite(suite)
        if not args.tasks or t.name in args.tasks
    ]
    rows = [measure(t) for t in tasks]
    total = summary(rows)
    if args.json:
        json.dump({"summary": total, "tasks": rows}, sys.stdout, indent=1)
        print()
        return 0
    for r in rows:
        change = r.get("change", "")
        result = (
            f"{r['cycles']} -> {r.get('new_cycles')} {'HIT' if r['hit'] else 'miss'}"
            if r["kind"] == "applied"
            else ""
        )
        print(f"{r['task']:<40} {r['kind']:<15} {change:<24} {result}")
    rate = total["hit_rate"]
    print(
        f"hit rate: {total['hits']}/{total['applied']} applied changes lowered the cycles"
        + ("" if rate is None else f" ({rate:.0%})")
        + f"; {total['not_mechanical']} of {total['tasks']} tasks had no mechanical change"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
