"""Fingerprints of every suite program's full simulator report: the strict "behaviour
unchanged" check.

    python -m benchmarks.perf.report_fingerprints [--dialect D ...] [--task GLOB] [--json]
    python -m benchmarks.perf.report_fingerprints --compare A.json B.json

`suite_cycles` compares statuses and cycles; a refactor can keep those and still change a
floor, a metric, a per-op figure, the bottleneck text or an output bit. This script runs,
for every task of every suite (benchmarks/*/ with task files) and every program of it (the
baseline; the builtin compiler's output, at each level where the dialect has levels; the
STeP expert solution), each of the task's check shapes on one seed: it executes the program
(hashing the outputs) and simulates it on the task's target, and prints one digest per
(task, program, shape) with the cycles and floor. `--json` keeps every field's digest and
the readable figures (metrics, resources, per_op, bottleneck), so that `--compare` of two
runs (say one in /work/before, one in the tree) names the fields that differ and how.

It uses only the dialects' public backend API (`interpreter.<dialect>.BACKEND.load /
execute / simulate`, `dsl.<dialect>.trace`) and builds programs in-process (no sandbox: the
programs are the repository's own), so it runs unchanged on an older tree:
`PYTHONPATH=<tree> python <this file>`.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

FIELDS = ("cycles", "floor_cycles", "metrics", "resources", "per_op", "bottleneck", "timeline")
"""The `SimReport` fields fingerprinted, each digested apart so a comparison names it."""
KEPT = ("cycles", "floor_cycles", "metrics", "resources", "per_op", "bottleneck")
"""Fields kept readable in the JSON (the timeline is only digested: it can be long)."""


def _plain(value: Any) -> Any:
    """A JSON-able, order-stable form: numpy scalars as Python numbers, tuples as lists,
    floats by their exact repr (a NaN or an infinity as a string)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def digest(value: Any) -> str:
    text = json.dumps(_plain(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def output_hash(outputs: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(outputs):
        array = np.ascontiguousarray(outputs[name])
        h.update(f"{name}:{array.dtype}:{array.shape};".encode())
        h.update(array.tobytes())
    return h.hexdigest()[:12]


def suites() -> list[str]:
    """Every folder of benchmarks/ that holds task files (in the tree being measured)."""
    from benchmarks.task import SUITES_DIR

    return sorted(p.name for p in SUITES_DIR.iterdir() if p.is_dir() and any(p.glob("*.toml")))


def programs(task: Any) -> Iterator[tuple[str, str | None, str]]:
    """(name, source or None, why None) of every program of `task` worth fingerprinting."""
    yield "baseline", task.baseline_source(), "no baseline"
    if task.dialect == "step":  # the measured tree's solutions, wherever this file runs from
        root = Path(importlib.import_module("benchmarks").__file__).resolve().parents[1]
        path = root / "tests" / "benchmarks" / "step" / "solutions" / f"{task.name}.py"
        if path.is_file():
            yield "expert", path.read_text(), ""
    try:
        compiler = importlib.import_module(f"dsl.{task.dialect}.compiler")
    except ImportError:
        return
    levels = getattr(compiler, "LEVELS", None)
    for level in levels or (None,):
        name = "builtin" if level is None else f"builtin-O{level}"
        try:
            args = (task,) if level is None else (task, level)
            yield name, compiler.compile_task(*args), ""
        except Exception as exc:  # NotCovered, or a compiler fault: both are behaviour
            yield name, None, f"{type(exc).__name__}: {exc}"


def build(task: Any, source: str) -> Any:
    """The program's IR as the sandbox would return it (JSON round trip), loaded."""
    from interpreter.verifier import load_backend

    namespace: dict[str, Any] = {"__name__": "__program__"}
    exec(compile(source, "program.py", "exec"), namespace)
    trace = importlib.import_module(f"dsl.{task.dialect}").trace
    ir = json.loads(json.dumps(trace(namespace["kernel"], task.signature())))
    return load_backend(task.dialect).load(ir)


def measure(task: Any, program: Any, dims: dict[str, int], seed: int) -> dict[str, Any]:
    """Output hash and per-field report digests of one run (an error is a result too)."""
    from interpreter.targets import load_target
    from interpreter.verifier import load_backend
    from interpreter.verify.compare import poisoned

    backend, target = load_backend(task.dialect), load_target(task.target)
    inputs = task.make_inputs(dims, seed)
    outputs = poisoned(task, dims)
    try:
        backend.execute(
            program, {k: v.copy() for k, v in inputs.items()}, outputs, dims, target=target
        )
    except Exception as exc:
        return {"error": f"execute: {type(exc).__name__}: {exc}"}
    row: dict[str, Any] = {"output": output_hash(outputs)}
    try:
        report = backend.simulate(program, {k: v.copy() for k, v in inputs.items()}, dims, target)
    except Exception as exc:
        return {**row, "error": f"simulate: {type(exc).__name__}: {exc}"}
    fields = dataclasses.asdict(report)
    row["fields"] = {f: digest(fields.get(f)) for f in FIELDS}
    row.update({f: _plain(fields.get(f)) for f in KEPT})
    return row


def fingerprint(task: Any, seed: int) -> Iterator[dict[str, Any]]:
    """One row per (program, check shape) of `task`; a program that does not build is one
    row with its error."""
    for name, source, why in programs(task):
        base = {"task": f"{task.suite}/{task.name}", "program": name, "shape": "-"}
        if source is None:
            if why != "no baseline":
                yield _sealed({**base, "error": why})
            continue
        try:
            program = build(task, source)
        except Exception as exc:
            yield _sealed({**base, "error": f"build: {type(exc).__name__}: {exc}"})
            continue
        for check in task.checks or ({},):
            shape = ",".join(f"{k}={v}" for k, v in sorted(check.items())) or "-"
            yield _sealed(
                {**base, "shape": shape, **measure(task, program, task.full_dims(check), seed)}
            )


def _sealed(row: dict[str, Any]) -> dict[str, Any]:
    """`row` with its digest: the outputs, every report field and any error, together."""
    row["digest"] = digest([row.get("output"), row.get("fields"), row.get("error")])
    return row


def run(dialects: list[str], pattern: str | None, seed: int) -> list[dict[str, Any]]:
    from benchmarks.task import load_suite

    rows = []
    for suite in suites():
        for task in load_suite(suite, pattern):
            if not dialects or task.dialect in dialects:
                rows.extend(fingerprint(task, seed))
    return rows


def key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["task"], row["program"], row["shape"]


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What differs between two rows of one (task, program, shape), one phrase per field."""
    out = []
    if a.get("error") != b.get("error"):
        out.append(f"error {a.get('error')!r} -> {b.get('error')!r}")
    if a.get("output") != b.get("output"):
        out.append("outputs")
    fa, fb = a.get("fields") or {}, b.get("fields") or {}
    for f in FIELDS:
        if fa.get(f) == fb.get(f):
            continue
        va, vb = a.get(f), b.get(f)
        if f in ("cycles", "floor_cycles"):
            out.append(f"{f} {va} -> {vb}")
        elif f in ("metrics", "resources") and isinstance(va, dict) and isinstance(vb, dict):
            names = sorted(k for k in set(va) | set(vb) if va.get(k) != vb.get(k))
            out.append(f"{f}[{', '.join(names)}]")
        elif f == "per_op" and isinstance(va, dict) and isinstance(vb, dict):
            out.append(f"per_op[{', '.join(_per_op_keys(va, vb))}]")
        else:
            out.append(f)
    return out


def _per_op_keys(a: dict[str, dict], b: dict[str, dict]) -> list[str]:
    """The per-op figure names that differ (with how many ops), or the ops that appear in
    only one report."""
    count: Counter[str] = Counter()
    for op in set(a) | set(b):
        if op not in a or op not in b:
            count["(ops added/removed)"] += 1
            continue
        for k in set(a[op]) | set(b[op]):
            if a[op].get(k) != b[op].get(k):
                count[k] += 1
    return [f"{k} x{n}" for k, n in sorted(count.items())]


def compare(a_rows: list[dict], b_rows: list[dict]) -> list[str]:
    """Lines: each differing row with its differing fields (and rows in one run only), then
    how many rows of each suite differ in each way."""
    a, b = {key(r): r for r in a_rows}, {key(r): r for r in b_rows}
    lines, totals = [], Counter()
    for k in sorted(set(a) | set(b)):
        label, suite = " ".join(k), k[0].split("/", 1)[0]
        if k not in b or k not in a:
            lines.append(f"{label}: only in {'A' if k in a else 'B'}")
            totals[suite, "only in " + ("A" if k in a else "B")] += 1
            continue
        if a[k]["digest"] == b[k]["digest"]:
            continue
        found = differences(a[k], b[k])
        lines.append(f"{label}: {'; '.join(found)}")
        totals.update((suite, _kind(phrase)) for phrase in found)
    same = sum(1 for k in set(a) & set(b) if a[k]["digest"] == b[k]["digest"])
    lines.append(f"{same} of {len(set(a) & set(b))} common rows identical")
    lines += [f"  {suite} {kind}: {n} rows" for (suite, kind), n in sorted(totals.items())]
    return lines


def _kind(phrase: str) -> str:
    """A difference without its values, to count alike ones: 'cycles 9 -> 8' -> 'cycles',
    'per_op[busy x3]' -> 'per_op[busy]'."""
    phrase = re.sub(r" x\d+(?=[],])", "", phrase)
    return re.sub(r"^(cycles|floor_cycles|error) .*", r"\1", phrase)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialect", action="append", default=[], choices=("step", "sam", "dae"))
    parser.add_argument("--task", help="glob on task names")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", action="store_true", help="every row in full, as JSON")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), help="two --json outputs")
    args = parser.parse_args(argv)
    if args.compare:
        print("\n".join(compare(*(_rows_of(path, parser) for path in args.compare))))
        return 0
    rows = run(args.dialect, args.task, args.seed)
    if not rows:
        dialects = ", ".join(args.dialect) or "any dialect"
        parser.error(f"no {dialects} task matches {args.task!r}")
    if args.json:
        json.dump(rows, sys.stdout, indent=0, sort_keys=True)
        print()
        return 0
    for row in rows:
        figures = row.get("error") or f"{row.get('cycles')} cycles, floor {row['floor_cycles']:g}"
        print(
            f"{row['digest']}  {row['task']:<34} {row['program']:<11} {row['shape']:<18} {figures}"
        )
    return 0


def _rows_of(path: str, parser: argparse.ArgumentParser) -> list[dict[str, Any]]:
    """The rows of a `--json` output, or a one-line usage error naming the file."""
    try:
        rows = json.loads(Path(path).read_text())
        if isinstance(rows, list) and all("digest" in r for r in rows):
            return rows
        parser.error(f"{path}: not the --json output of this script")
    except (OSError, ValueError, TypeError) as exc:
        parser.error(f"{path}: {exc}")


if __name__ == "__main__":
    raise SystemExit(main())
