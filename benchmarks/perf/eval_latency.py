"""Evaluation latency: per sandbox backend on a small STeP task, or `agent eval` per suite task.

    python -m benchmarks.perf.eval_latency [--quick] [--runs N] [--task step/softmax]
    python -m benchmarks.perf.eval_latency --suites step,sam,dae [--only GLOB] [--root DIR] [--json]

With `--suites` it runs `agent eval TASK BASELINE --json` as a user does, one fresh process per
task (each baseline is the program evaluated, and the command also times it as the baseline),
and prints per task the wall time, the CPU time of the process and its sandboxes, where the
program's own verification spent its wall time (sandbox build, checks, timing, and loading:
torch's import, the IR, the target; the rest is start-up and the baseline's verification),
the verdict, and the maximum wall time; the target is 1 s per task. That is the cold call:
no eval server runs (each task's stops it first), so the call evaluates in-process and starts
one. The warm call comes once that server answers: its wall time, and the CPU time of the
client and of the server's child that evaluated (agents.eval_server). `--root` runs the command
of another checkout (say a read-only tree of the code before a change) on the same tasks; one
without the eval server gets the cold call only.

For each backend that works here it reports the median time of one sandboxed build
(`sandbox.build_ir` on the task's baseline program) when a spare sandbox is waiting, as in a
session that evaluates one program after another (`sandbox.spares`), and when none is (a cold
start, as in a one-off `agent eval`); the median time of the same trace done in this process
without any sandbox; the difference between the warm build and the trace (the sandbox's
overhead); and the median time of a whole `interpreter.verifier.verify` of the task, warm and
cold. Targets: overhead <= 150 ms under
bubblewrap; whole evaluation <= 1 s. The machine's load average is printed with the figures,
since other work on a 2-core machine moves them a lot.

The in-process trace runs the project's own baseline program (trusted text), never agent code.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

from benchmarks.task import Task, load_suite, load_task
from sandbox import build_ir
from sandbox.backends import BACKENDS
from sandbox.spares import SPARES

CHECKOUT = Path(__file__).resolve().parents[2]
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


def _build_seconds(task: Task, source: str, backend: str) -> float:
    built = build_ir(source, dialect=task.dialect, signature=task.signature(), backend=backend)
    if built.status != "ok":
        raise SystemExit(
            f"{task.key}: the baseline does not build under {backend}: {built.message}"
        )
    return built.seconds


def _verify_seconds(task: Task, source: str, backend: str) -> float:
    from interpreter.verifier import verify

    started = time.perf_counter()
    verdict = verify(task, source, sandbox_backend=backend)
    if verdict.status != "passed":
        raise SystemExit(
            f"{task.key}: the baseline did not pass under {backend}: {verdict.feedback}"
        )
    return time.perf_counter() - started


def _measure_backend(
    task: Task, source: str, backend: str, runs: int, gap: float
) -> dict[str, float]:
    """Cold and warm builds and verifications and in-process traces, interleaved run by run
    so that changes in the machine's load touch all alike. A warm one comes `gap` seconds
    after the previous step, as when a model takes a while to write the next program."""
    _verify_seconds(task, source, backend)  # load the trusted side's modules
    figures: dict[str, list[float]] = {
        "build": [],
        "cold": [],
        "trace": [],
        "eval": [],
        "eval_cold": [],
    }
    for _ in range(runs):
        SPARES.close()
        figures["cold"].append(_build_seconds(task, source, backend))
        figures["trace"].append(_trace_in_process(task, source))
        time.sleep(gap)
        figures["build"].append(_build_seconds(task, source, backend))
        time.sleep(gap)
        figures["eval"].append(_verify_seconds(task, source, backend))
        SPARES.close()
        figures["eval_cold"].append(_verify_seconds(task, source, backend))
    medians = {name: _median_ms(samples) for name, samples in figures.items()}
    medians["overhead"] = medians["build"] - medians["trace"]
    return medians


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _has_server(root: Path) -> bool:
    """Whether `root`'s `agent` command (agents.launch) hands `eval` to a warm server."""
    return (root / "agents" / "launch.py").is_file()


def _server_children_cpu(pid: int | None) -> float:
    """CPU seconds of the evaluations the eval server `pid` has finished (its reaped children)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def _run_in(root: Path, command: list[str]) -> subprocess.CompletedProcess:
    """`command` run from `root`, with the eval server allowed (this benchmark stops it)."""
    env = {k: v for k, v in os.environ.items() if k != "AGENT_EVAL_SERVER"}
    env["PYTHONPATH"] = str(root)
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)


def eval_task(task: Task, root: Path, server: int | None = None) -> dict[str, object]:
    """One `agent eval` of the task's baseline in a fresh process run from `root`: its wall
    and CPU seconds (the process and every sandbox it waited for, and with the eval server
    `server`'s pid, the child that evaluated there) and its verdict."""
    assert task.baseline is not None
    program = root / (task.folder / task.baseline).resolve().relative_to(CHECKOUT)
    # the task file, not `task.key`: a key names its dialect, not its folder (sam_new/...)
    task_file = root / task.path.resolve().relative_to(CHECKOUT)
    entry = "agents.launch" if _has_server(root) else "agents.cli"  # what `agent` runs
    with tempfile.TemporaryDirectory() as scratch:
        if task.baseline_params:  # a shared file: the task's baseline is it at its values
            text = task.with_baseline_params(program.read_text())
            program = Path(scratch) / program.name
            program.write_text(text)
        command = [sys.executable, "-m", entry, "eval", str(task_file), str(program), "--json"]
        cpu = _children_cpu() + _server_children_cpu(server)
        started = time.perf_counter()
        done = _run_in(root, command)
        wall = time.perf_counter() - started
    cpu = _children_cpu() + _server_children_cpu(server) - cpu
    try:
        verdict = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        verdict = {"status": f"no verdict (exit {done.returncode}): {last}"}
    return {"task": task.key, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)} | {
        k: verdict.get(k) for k in ("status", "cycles", "baseline_cycles", "seconds")
    }


def task_latency(task: Task, root: Path) -> dict[str, object]:
    """The task's cold `eval_task` (no server running: it evaluates in-process and starts
    one) and, once that server answers, its warm one (`warm_wall_s`, `warm_cpu_s`,
    `warm_status`; None in a checkout without the server)."""
    warm: dict[str, object] = {"wall_s": None, "cpu_s": None, "status": None}
    if not _has_server(root):
        return eval_task(task, root) | {f"warm_{k}": v for k, v in warm.items()}
    _run_in(root, [sys.executable, "-m", "agents.launch", "eval", "--stop-server"])
    cold = eval_task(task, root)
    ping = "from agents.eval_server import ping; print(ping(120))"
    pid = _run_in(root, [sys.executable, "-c", ping]).stdout.strip()
    if not pid.isdigit():
        warm["status"] = "no eval server answered"
    else:
        try:
            warm = eval_task(task, root, server=int(pid))
        except FileNotFoundError:  # its /proc entry: it refused a changed project and left
            warm["status"] = "the eval server left (a file of the project changed?)"
    return cold | {f"warm_{k}": warm[k] for k in ("wall_s", "cpu_s", "status")}


def suite_latency(suites: list[str], only: str | None, root: Path) -> dict[str, object]:
    """`task_latency` for every task with a baseline in `suites`, with the load around it."""
    load_before = os.getloadavg()[0]
    rows = [
        task_latency(task, root)
        for suite in suites
        for task in load_suite(suite, only)
        if task.baseline is not None
    ]
    if _has_server(root):  # started by the cold calls: leave none behind
        _run_in(root, [sys.executable, "-m", "agents.launch", "eval", "--stop-server"])
    walls = [float(r["wall_s"]) for r in rows]
    warm = [float(r["warm_wall_s"]) for r in rows if r.get("warm_wall_s") is not None]
    return {
        "root": str(root),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "tasks": rows,
        "max_wall_s": max(walls, default=0.0),
        "median_wall_s": round(statistics.median(walls), 3) if walls else 0.0,
        "over_target": sum(w > EVAL_TARGET_S for w in walls),
        "max_warm_wall_s": max(warm, default=None),
        "warm_over_target": sum(w > EVAL_TARGET_S for w in warm),
    }


def _print_suite_latency(result: dict) -> None:
    print(f"agent eval of each baseline, run from {result['root']}")
    print(
        f"{'task':<36} {'wall s':>7} {'cpu s':>7} {'sandbox':>8} {'checks':>7} {'timing':>7}"
        f" {'loading':>8} {'rest':>6} {'warm s':>7} {'cpu s':>6}  verdict"
    )
    for row in result["tasks"]:
        phases = row.get("seconds") or {}
        parts = [phases.get(k, 0.0) for k in ("sandbox", "check", "simulate")]
        total = phases.get("total", 0.0)
        parts.append(total - sum(parts))  # loading: torch's import, the IR, the target
        parts.append(row["wall_s"] - total)  # rest: start-up and the baseline's verification
        print(
            f"{row['task']:<36} {row['wall_s']:>7.2f} {row['cpu_s']:>7.2f}"
            + "".join(f" {x:>{w}.2f}" for x, w in zip(parts, (8, 7, 7, 8, 6), strict=True))
            + "".join(
                f" {'-':>{w}}" if row.get(k) is None else f" {row[k]:>{w}.2f}"
                for k, w in (("warm_wall_s", 7), ("warm_cpu_s", 6))
            )
            + f"  {row['status']}"
            + (
                f" (warm: {row['warm_status']})"
                if row.get("warm_status") not in (None, row["status"])
                else ""
            )
        )
    print(
        f"{len(result['tasks'])} tasks: cold max {result['max_wall_s']:.2f} s wall, median"
        f" {result['median_wall_s']:.2f} s; {result['over_target']} over {EVAL_TARGET_S:g} s;"
        + (
            f" warm max {result['max_warm_wall_s']:.2f} s, {result['warm_over_target']} over;"
            if result.get("max_warm_wall_s") is not None
            else ""
        )
        + f" load average {result['load_before']:.2f} before / {result['load_after']:.2f} after"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--suites", help="comma-separated suites: time `agent eval` on each task's baseline"
    )
    parser.add_argument("--only", help="with --suites: task names matching this glob")
    parser.add_argument(
        "--root", type=Path, default=CHECKOUT, help="with --suites: the checkout to run"
    )
    parser.add_argument("--json", action="store_true", help="with --suites: one JSON object")
    parser.add_argument("--quick", action="store_true", help="3 runs per figure")
    parser.add_argument("--runs", type=int, default=20, help="runs per figure (default 20)")
    parser.add_argument("--task", default="step/softmax", help="a small STeP task")
    parser.add_argument(
        "--gap", type=float, default=1.0, help="seconds before a warm build or eval (default 1)"
    )
    args = parser.parse_args(argv)
    if args.suites:
        result = suite_latency(args.suites.split(","), args.only, args.root.resolve())
        if args.json:
            print(json.dumps(result))
        else:
            _print_suite_latency(result)
        return
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
        rows.append((name, _measure_backend(task, source, name, runs, args.gap), ""))
    load_after = os.getloadavg()[0]

    print(
        f"task {task.key}, {runs} runs per figure, {os.cpu_count()} cores, "
        f"load average {load_before:.2f} before / {load_after:.2f} after"
    )
    print(
        f"{'backend':<11} {'build ms':>9} {'cold ms':>8} {'trace ms':>9} {'overhead ms':>12} "
        f"{'eval ms':>8} {'eval cold':>10}  targets"
    )
    for name, figures, reason in rows:
        if figures is None:
            print(f"{name:<11} unavailable: {reason}")
            continue
        verdicts = []
        if name == "bubblewrap":
            ok = figures["overhead"] <= OVERHEAD_TARGET_S * 1000
            verdicts.append(f"overhead<=150ms {'met' if ok else 'MISSED'}")
        for label, key in (("eval<=1s", "eval"), ("cold", "eval_cold")):
            ok = figures[key] <= EVAL_TARGET_S * 1000
            verdicts.append(f"{label} {'met' if ok else 'MISSED'}")
        print(
            f"{name:<11} {figures['build']:>9.1f} {figures['cold']:>8.1f} {figures['trace']:>9.1f} "
            f"{figures['overhead']:>12.1f} {figures['eval']:>8.1f} {figures['eval_cold']:>10.1f}"
            f"  {', '.join(verdicts)}"
        )


if __name__ == "__main__":
    main()
