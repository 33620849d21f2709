"""Wall time of a solve run at `--jobs 1` and `--jobs N`, with a slow model.

The model is the builtin compiler behind a fixed delay per call (2 s by default: a hosted
model's typical answer time), so the run's model time is known in advance and the overlap
that `--jobs` buys is measured, not assumed. Every run is the real thing otherwise: the
solve graph, the verifier pool (one worker per spare core), results written to a fresh run
folder, no experience store (`--memory none`: nothing recalled, every task is new work).
The figures of each run (status and cycles per task) must agree across job counts; the
script says so, and exits 1 if they do not.

    python -m benchmarks.perf.solve_jobs [--jobs 1 4] [--delay 2] [--tasks 8]
                                         [--executor local|ray] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agents.models import CostMeter, Reply
from agents.models.builtin import BuiltinModel
from agents.solve_cli import NoMemory, verify_workers
from agents.workflows.executors import open_executor
from agents.workflows.run import RunOptions, prepare, run_suite
from agents.workflows.solve import SolveSettings
from benchmarks.task import Task, load_suite


class SlowModel(BuiltinModel):
    """The builtin model, answering after `delay` seconds (stateless: Ray may run it)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.name = f"builtin+{delay:g}s"

    def complete(self, messages: list[dict[str, str]], **options: Any) -> Reply:
        time.sleep(self.delay)
        return super().complete(messages, **options)


def solve_once(
    tasks: list[Task], *, jobs: int, delay: float, executor: str, timing_seed: int
) -> dict[str, Any]:
    """One run of `tasks` at `jobs` tasks at once: wall seconds, model calls, figures."""
    settings = SolveSettings(samples=1, repair_rounds=1, optimise_rounds=1)
    with tempfile.TemporaryDirectory() as folder:
        options = RunOptions(out=Path(folder), jobs=jobs, executor=executor, settings=settings)
        run = prepare(options.out, tasks, suite="bench", model_spec="slow", options=options)
        run["timing_seed"] = timing_seed  # every job count times the same inputs
        meter = CostMeter()
        with open_executor(executor, workers=verify_workers(jobs)) as ex:
            model = meter.wrap(ex.model(SlowModel(delay)))
            with ex.verifier(timing_seed) as pool:
                start = time.perf_counter()
                results = run_suite(
                    tasks,
                    model=model,
                    store=NoMemory(),
                    meter=meter,
                    pool=pool,
                    run=run,
                    options=options,
                )
                wall = time.perf_counter() - start
    calls = sum(e["attempts"] for e in results["tasks"])
    return {
        "jobs": jobs,
        "wall_s": round(wall, 2),
        "model_calls": calls,
        "model_s": round(calls * delay, 1),
        "figures": {e["task"]: [e["status"], e["cycles"]] for e in results["tasks"]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--delay", type=float, default=2.0, help="seconds per model call")
    parser.add_argument("--tasks", type=int, default=8, help="the suite's first N tasks")
    parser.add_argument("--suite", default="step")
    parser.add_argument("--executor", default="local", choices=("local", "ray"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    tasks = load_suite(args.suite)[: args.tasks]
    seed = secrets.randbits(32)
    rows = [
        solve_once(tasks, jobs=j, delay=args.delay, executor=args.executor, timing_seed=seed)
        for j in args.jobs
    ]
    same = all(r["figures"] == rows[0]["figures"] for r in rows)
    report = {
        "suite": args.suite,
        "tasks": len(tasks),
        "delay_s": args.delay,
        "executor": args.executor,
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "runs": [{k: v for k, v in r.items() if k != "figures"} for r in rows],
        "speedup": round(rows[0]["wall_s"] / rows[-1]["wall_s"], 2),
        "same_figures": same,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{len(tasks)} {args.suite} tasks, {args.delay:g} s per model call,"
            f" {args.executor} executor, {report['cpus']} cpus, load {report['load_avg_1m']}"
        )
        for r in report["runs"]:
            print(
                f"  --jobs {r['jobs']}: {r['wall_s']:7.1f} s wall"
                f"  ({r['model_calls']} model calls, {r['model_s']:g} s of model time)"
            )
        print(f"  speedup {report['speedup']}x; same figures at every --jobs: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
