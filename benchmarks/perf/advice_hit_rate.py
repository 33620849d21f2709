"""How often the simulator's bottleneck advice, applied as written, lowers the cycles.

    python -m benchmarks.perf.advice_hit_rate [SUITE ...] [--tasks NAME ...] [--json]

For every task of the suites (default: step) the baseline is verified and timed; the
bottleneck sentence is read for a change that can be made without judgement — "raise its
compute= from A to B" on the op it names (the line of the source it quotes), "larger
tiles" (the kernel's first tile parameter doubled), "smaller tiles" (halved) — that change
is made to the text, and the new program is verified and timed on the same inputs. A hit
is a change that still passes and takes fewer cycles. Advice that needs judgement (reuse
tiles on chip, cut re-reads) counts as not mechanical, apart from the rate.

DAE (`dae` suite): "`lanes=8` on its `dae.loop`" for callback `def NAME(` widens the loop the
callback is registered on; "`contiguous=True` on `dae.load(M, ...)`" and "`nontemporal=True`
on the read-once loads `dae.load(M, ...)`, ..." add the hint to those loads. The older DAE
sentence named no place: its "vector loops (lanes=8)" widens every callback's loop and its
"Contiguous vector loads" marks every vector-loop load. The DAE baselines are all the
compiler's O0; `--dae-levels 1 2 3` also measures the compiler's programs at those levels.

SAM (`sam` suite): advice to deal the outermost level over F fork/join lanes is applied
through the builtin compiler, the way the baselines are made: the task's spec (unfused, as
its baseline) recompiled with `parallel = {level, factor = F}`, the level being the named
graph's outermost index in the spec's order (the compiler lanes every statement that has
that index). The older SAM sentence ("fork/join lanes split ...") reads as factor 2.

The sentence is parsed, not asked for structurally, so the same script measures any
version of the advice: run it with `PYTHONPATH=/work/before` from another tree for the
"before" figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
import sys
import time

from benchmarks.task import Task, load_suite
from dsl.dae.compiler import compile_spec
from dsl.errors import NotCovered
from dsl.sam import compiler as sam_compiler
from dsl.sam.index_notation import parse_program
from interpreter.verifier import verify

SEED = 11
_LABEL = re.compile(r"\b(\w+) \(node (\d+), line (\d+)\)")
_RAISE = re.compile(r"raise its compute= from (\d+) to (\d+)")
_TILE = re.compile(r"(def kernel\([^)]*?\btile_\w+=)(\d+)", re.S)
_DAE_HINT = re.compile(r"`(contiguous|nontemporal)=True` on (?:the read-once loads )?")
_DAE_LOAD = re.compile(r"`dae\.load\((\w+), \.\.\.\)`")
_SAM_FACTOR = re.compile(r"over (\d+) fork/join lanes")
_SAM_GRAPH = re.compile(r"graph '(\w+)'")


def mechanical_change(advice: str, source: str) -> tuple[str, str] | None:
    """(what, new source) for the advice's mechanical change, or None when it has none."""
    if "dae." in source:
        return _dae_change(advice, source)
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


def sam_change(task: Task, advice: str) -> tuple[str, str] | None:
    """The SAM advice's lanes, applied by recompiling the task's unfused spec with
    `parallel` (see the module docstring); None when the advice asks for no lanes."""
    factor = _SAM_FACTOR.search(advice)
    older = not advice.startswith("Critical path") and "lanes" in advice
    if factor is None and not older:
        return None
    width = int(factor.group(1)) if factor else 2
    statements = parse_program(task.spec["expr"])
    graph = _SAM_GRAPH.search(advice)
    stmt = next((s for s in statements if graph and s.lhs.tensor == graph.group(1)), statements[-1])
    order = [i for i in str(task.spec.get("order", "")) if i in stmt.lhs.indices]
    level = (order or list(stmt.lhs.indices) or [None])[0]
    if level is None:
        return None
    spec = dict(task.spec, fuse=False, parallel={"level": level, "factor": width})
    try:
        text = sam_compiler.compile_task(dataclasses.replace(task, spec=spec))
    except NotCovered as exc:
        return f"parallel {level} x{width} (the builtin refuses: {exc})", ""
    return f"parallel {level} x{width}", text


def _dae_change(advice: str, source: str) -> tuple[str, str] | None:
    """The DAE advice's change (see the module docstring), or None."""
    callback = re.search(r"callback `def (\w+)\(`", advice)
    if callback and "`lanes=8` on its `dae.loop`" in advice:
        return _dae_edit(source, _loop_lines(source, callback.group(1)), ", lanes=8", "lanes=")
    hint = _DAE_HINT.search(advice)
    if hint:
        tail = advice[hint.end() :].split(":")[0]
        loads = _DAE_LOAD.findall(tail)
        lines = [
            i
            for i, text in enumerate(source.splitlines())
            if any(f"dae.load({m}," in text for m in loads)
        ]
        return _dae_edit(source, lines, f", {hint.group(1)}=True", f"{hint.group(1)}=")
    if "vector loops (lanes=8)" in advice:  # the older sentence: every callback's loop
        names = re.findall(r"^\s*def (\w+)\(", source, re.M)[1:]
        lines = sorted({i for name in names for i in _loop_lines(source, name)})
        return _dae_edit(source, lines, ", lanes=8", "lanes=")
    if "Contiguous vector loads" in advice:
        text = source.splitlines()
        lines = [i for i, t in enumerate(text) if "dae.load(" in t and _in_vector_loop(text, i)]
        return _dae_edit(source, lines, ", contiguous=True", "contiguous=")
    return None


def _loop_lines(source: str, callback: str) -> list[int]:
    """Index of the `with dae.loop(...) as V:` line of the loop callback `callback` is
    registered on (`@dae.callback(V, ...)` right above `def callback(`)."""
    lines = source.splitlines()
    for i, text in enumerate(lines):
        if re.match(rf"\s*def {callback}\(", text) and i:
            var = re.search(r"@dae\.callback\((\w+)", lines[i - 1])
            if var is None:
                return []
            loop = rf"with dae\.loop\(.*\) as {var.group(1)}:"
            return [j for j in range(i - 1, -1, -1) if re.search(loop, lines[j])][:1]
    return []


def _in_vector_loop(lines: list[str], i: int) -> bool:
    """Whether the innermost `with dae.loop(...)` around line `i` is `lanes=` wide."""
    indent = len(lines[i]) - len(lines[i].lstrip())
    for j in range(i - 1, -1, -1):
        text = lines[j]
        if text.strip() and len(text) - len(text.lstrip()) < indent:
            if "with dae.loop(" in text:
                return "lanes=" in text
            indent = len(text) - len(text.lstrip())
    return False


def _dae_edit(source: str, lines: list[int], keyword: str, key: str) -> tuple[str, str] | None:
    """`keyword` added to the last call on each of `lines` that lacks `key` (None: none)."""
    text = source.splitlines()
    changed = []
    for i in lines:
        code, hash_, comment = text[i].partition("  #")
        end = code.rfind(")")
        if key in code or end < 0:
            continue
        text[i] = code[:end] + keyword + code[end:] + hash_ + comment
        changed.append(i + 1)
    if not changed:
        return None
    return f"{keyword[2:]} on line(s) {changed}", "\n".join(text) + "\n"


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


def measure(task: Task, source: str | None = None, label: str = "") -> dict:
    """One program's row: its advice, the change and the cycles before/after (the task's
    baseline unless `source` is given; `label` is added to the task key)."""
    start = time.perf_counter()
    source = task.baseline_source() if source is None else source
    row: dict = {"task": task.key + label, "kind": "no baseline"}
    if source is None:
        return row
    before = _verify(task, source)
    row.update(cycles=before.cycles, advice=before.bottleneck, kind="not passed")
    if before.correct:
        if task.dialect == "sam":
            change = sam_change(task, before.bottleneck)
        else:
            change = mechanical_change(before.bottleneck, source)
        row["kind"] = "not mechanical" if change is None else "applied"
        if change is not None and not change[1]:  # the compiler cannot make the change
            row.update(change=change[0], status="not built", hit=False)
        elif change is not None:
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
    parser.add_argument(
        "--dae-levels",
        nargs="*",
        type=int,
        default=[],
        help="also the DAE compiler's programs at these levels (1..3)",
    )
    args = parser.parse_args(argv)
    tasks = [
        t
        for suite in args.suites
        for t in load_suite(suite)
        if not args.tasks or t.name in args.tasks
    ]
    rows = [measure(t) for t in tasks]
    for t in tasks:
        if t.suite == "dae":
            inputs = tuple(i.name for i in t.inputs)
            for level in args.dae_levels:
                rows.append(measure(t, compile_spec(t.spec, inputs, level), f"@O{level}"))
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
