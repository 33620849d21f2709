"""Every suite task's baseline and best known program (STeP expert solution, SAM/DAE builtin
compiler output), verified and timed: the table a change to a dialect, a target or the
verifier must keep (or explain).

    python -m benchmarks.perf.suite_cycles [SUITE ...] [--seed S] [--json]

Both programs of a task are timed in one `verify` call each with the same seed, so with a
verifier that times the checked inputs they see the same inputs.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from pathlib import Path

from benchmarks.task import Task, load_suite
from interpreter.verifier import verify

ROOT = Path(__file__).resolve().parents[2]
STEP_SOLUTIONS = ROOT / "tests" / "benchmarks" / "step" / "solutions"


def best_program(task: Task) -> str | None:
    """The best known program of a task: the STeP expert, or the builtin compiler's output."""
    if task.dialect == "step":
        path = STEP_SOLUTIONS / f"{task.name}.py"
        return path.read_text() if path.is_file() else None
    from dsl.errors import NotCovered

    compiler = __import__(f"dsl.{task.dialect}.compiler", fromlist=["compile_task"])
    try:
        return compiler.compile_task(task)
    except NotCovered:
        return None


def _verify(task: Task, source: str, seed: int):
    kwargs = {"seed": seed}
    if "timing_seed" in inspect.signature(verify).parameters:
        kwargs["timing_seed"] = seed
    return verify(task, source, **kwargs)


def measure(task: Task, seed: int) -> dict:
    row: dict = {"task": task.key}
    start = time.perf_counter()
    for which, source in (("baseline", task.baseline_source()), ("best", best_program(task))):
        if source is None:
            row[which] = None
            continue
        verdict = _verify(task, source, seed)
        row[which] = {
            "status": verdict.status,
            "cycles": verdict.cycles,
            "feedback": "" if verdict.correct else verdict.feedback[:300],
        }
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="*", default=["step", "sam", "dae"])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = [measure(task, args.seed) for suite in args.suites for task in load_suite(suite)]
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
        return 0
    for row in rows:
        cells = []
        for which in ("baseline", "best"):
            r = row[which]
            cells.append("—" if r is None else f"{r['status']:>9} {r['cycles'] or '':>10}")
        print(f"{row['task']:<36} {cells[0]}   {cells[1]}   {row['seconds']:>6.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
