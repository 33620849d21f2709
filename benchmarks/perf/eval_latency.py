"""Evaluation latency per sandbox backend on a small STeP task.

    python -m benchmarks.perf.eval_latency [--quick] [--runs N] [--task step/softmax]

For each backend that works here it reports the median time of one sandboxed build
(`sandbox.build_ir` on the task's baseline program), the median time of the same trace done
in this process without any sandbox, the difference (the sandbox's overhead), and the median
time of a whole `interpreter.verifier.verify` of the task. Targets: overhead <= 150 ms under
bubblewrap; whole evaluation <= 1 s. The machine's load average is printed with the figures,
since other work on a 2-core machine moves them a lot.

The in-process trace runs the project's own baseline program (trusted text), never agent code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import time
import types

from benchmarks.task import Task, load_task
from sandbox import build_ir
from sandbox.backends import BACKENDS

OVERHEAD_TARGET_S = 0.150
EVAL_TARGET_S = 1.0


def _trace_in_process(task: Task, source: str) -> float:
    started = time.perf_counter()
    module = types.ModuleType("baseline")
    exec(compile(source, "baseline.py", "exec"), module.__dict__)
    importlib.import_module(f"dsl.{task.dialect}").trace(module.kernel, task.signature())
    return time.perf_counter() - started


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _measure_backend(task: Task, source: str, backend: str, runs: int) -> dict[str, float]:
    """Builds, in-process traces and whole verifications, interleaved run by run so that
    changes in the machine's load touch all three alike."""
    from interpreter.verifier import verify

    signature = task.signature()
    verify(task, source, sandbox_backend=backend)  # warm the trusted side's imports
    builds, traces, verdicts = [], [], []
    for _ in range(runs):
        built = build_ir(source, dialect=task.dialect, signature=signature, backend=backend)
        if built.status != "ok":
            raise SystemExit(
                f"{task.key}: the baseline does not build under {backend}: {built.message}"
            )
        builds.append(built.seconds)
        traces.append(_trace_in_process(task, source))
        started = time.perf_counter()
        verdict = verify(task, source, sandbox_backend=backend)
        verdicts.append(time.perf_counter() - started)
        if verdict.status != "passed":
            raise SystemExit(
                f"{task.key}: the baseline did not pass under {backend}: {verdict.feedback}"
            )
    return {
        "build": _median_ms(builds),
        "trace": _median_ms(traces),
        "overhead": _median_ms(builds) - _median_ms(traces),
        "eval": _median_ms(verdicts),
        "eval_max": max(verdicts) * 1000,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs per figure")
    parser.add_argument("--runs", type=int, default=20, help="runs per figure (default 20)")
    parser.add_argument("--task", default="step/softmax", help="a small STeP task")
    args = parser.parse_args(argv)
    runs = 3 if args.quick else args.runs
    task = load_task(args.task)
    source = task.baseline_source()
    if source is None:
        raise SystemExit(f"{task.key} has no baseline program to time")
    load_before = os.getloadavg()[0]
    rows = []
    for name, backend in BACKENDS.items():
        reason = backend.unavailable()
        if reason:
            rows.append((name, None, reason))
            continue
        rows.append((name, _measure_backend(task, source, name, runs), ""))
    load_after = os.getloadavg()[0]

    print(
        f"task {task.key}, {runs} runs per figure, {os.cpu_count()} cores, "
        f"load average {load_before:.2f} before / {load_after:.2f} after"
    )
    print(
        f"{'backend':<11} {'build ms':>9} {'trace ms':>9} {'overhead ms':>12} "
        f"{'eval ms':>8} {'eval max':>9}  targets"
    )
    for name, figures, reason in rows:
        if figures is None:
            print(f"{name:<11} unavailable: {reason}")
            continue
        verdicts = []
        if name == "bubblewrap":
            ok = figures["overhead"] <= OVERHEAD_TARGET_S * 1000
            verdicts.append(f"overhead<=150ms {'met' if ok else 'MISSED'}")
        ok = figures["eval"] <= EVAL_TARGET_S * 1000
        verdicts.append(f"eval<=1s {'met' if ok else 'MISSED'}")
        print(
            f"{name:<11} {figures['build']:>9.1f} {figures['trace']:>9.1f} "
            f"{figures['overhead']:>12.1f} {figures['eval']:>8.1f} {figures['eval_max']:>9.1f}"
            f"  {', '.join(verdicts)}"
        )


if __name__ == "__main__":
    main()
