"""STeP suite under the hardware budget: every task's baseline and expert solution, verified and
timed, next to the baseline with `compute=10**12` forced on every compute op (the hack a budget
must stop).

    python -m benchmarks.perf.step_budget [TASK ...] [--seed S] [--json]

Also runs from another checkout (for before/after tables) as a file:
`PYTHONPATH=/other /path/to/step_budget.py` — it only uses the task loader and `verify`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks.task import Task, load_suite
from interpreter.verifier import verify

SOLUTIONS = Path(__file__).resolve().parents[2] / "tests" / "benchmarks" / "step" / "solutions"

# Prepended to a program: every compute op asks for 10**12 compute units, whatever it wrote.
COMPUTE_HACK = """\
from dsl import step as _step


def _greedy(build):
    return lambda *args, **kwargs: build(*args, **{**kwargs, "compute": 10**12})


for _name in ("map", "accum", "scan", "flat_map"):
    setattr(_step, _name, _greedy(getattr(_step, _name)))
"""


def _row(task: Task, source: str | None, seed: int) -> dict | None:
    if source is None:
        return None
    v = verify(task, source, seed=seed)
    return {
        "status": v.status,
        "cycles": v.cycles,
        "floor": None if v.floor_cycles is None else round(v.floor_cycles, 1),
        "feedback": "" if v.correct else v.feedback[:200],
    }


def measure(task: Task, seed: int) -> dict:
    start = time.perf_counter()
    expert = SOLUTIONS / f"{task.name}.py"
    baseline = task.baseline_source()
    row = {
        "task": task.name,
        "baseline": _row(task, baseline, seed),
        "expert": _row(task, expert.read_text() if expert.is_file() else None, seed),
        "compute_hack": _row(task, baseline and COMPUTE_HACK + baseline, seed),
    }
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def _cell(r: dict | None) -> str:
    if r is None:
        return f"{'-':>18}"
    return f"{r['status']:>8} {r['cycles'] or '':>9}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", help="task names (default: the whole suite)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    tasks = [t for t in load_suite("step") if not args.tasks or t.name in args.tasks]
    rows = []
    for task in tasks:
        rows.append(measure(task, args.seed))
        if not args.json:
            r = rows[-1]
            print(
                f"{r['task']:<28} {_cell(r['baseline'])} {_cell(r['expert'])}"
                f" {_cell(r['compute_hack'])}  {r['seconds']:.1f}s",
                flush=True,
            )
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
