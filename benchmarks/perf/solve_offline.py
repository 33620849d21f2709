"""The whole agent road, offline: `agent solve` with the builtin model on every suite.

Each suite goes through the solve workflow (builtin compilers → reply parser → sandbox →
verifier → simulator → experience store → results.json) with default settings, into a
temporary run folder and experience store. Printed per suite: tasks, solved, fast_1,
fast_2, geometric-mean speedup over the baselines, checks run and wall time. The builtin
compilers are the baselines of most step tasks, so step's speedups sit at 1.00x there.

    python -m benchmarks.perf.solve_offline [--quick] [--suites step,sam,dae] [--jobs 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from agents.models import CostMeter, get_model
from agents.workflows.run import RunOptions, prepare, run_suite
from agents.workflows.solve import SolveSettings
from agents.workflows.verify_pool import VerifierPool
from benchmarks.task import load_suite
from memory.store import ExperienceStore


class _CountingPool:
    def __init__(self, pool: VerifierPool) -> None:
        self.pool, self.checks = pool, 0

    def verify(self, task, source):
        self.checks += 1
        return self.pool.verify(task, source)

    def baseline_cycles(self, task):
        return self.pool.baseline_cycles(task)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three tasks per suite")
    parser.add_argument("--suites", default="step,sam,dae")
    parser.add_argument("--jobs", type=int, default=1, help="verification worker processes")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp, VerifierPool(args.jobs) as workers:
        store = ExperienceStore(Path(tmp) / "memory.sqlite")
        for suite in args.suites.split(","):
            tasks = load_suite(suite)[: 3 if args.quick else None]
            pool = _CountingPool(workers)
            options = RunOptions(out=Path(tmp) / suite, jobs=args.jobs, settings=SolveSettings())
            run = prepare(options.out, tasks, suite=suite, model_spec="builtin", options=options)
            meter = CostMeter()
            start = time.perf_counter()
            results = run_suite(
                tasks,
                model=meter.wrap(get_model("builtin")),
                store=store,
                meter=meter,
                pool=pool,
                run=run,
                options=options,
            )  # type: ignore[arg-type]
            seconds = time.perf_counter() - start
            rows.append((suite, results["summary"], pool.checks, seconds))

    print(
        f"{'suite':6} {'tasks':>5} {'solved':>6} {'fast_1':>6} {'fast_2':>6} {'geomean':>8}"
        f" {'checks':>6} {'wall s':>7} {'s/task':>6}"
    )
    for suite, s, checks, seconds in rows:
        geomean = f"{s['geomean_speedup']:.2f}x" if s["geomean_speedup"] else "-"
        print(
            f"{suite:6} {s['total']:5d} {s['solved']:6d} {s['fast_1']:6.2f} {s['fast_2']:6.2f}"
            f" {geomean:>8} {checks:6d} {seconds:7.1f} {seconds / max(1, s['total']):6.2f}"
        )


if __name__ == "__main__":
    main()
