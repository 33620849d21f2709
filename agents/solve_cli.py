"""The bodies of `agent solve`, `agent report` and `agent memory` (the typer signatures are
in `agents.cli`, which must stay light: everything heavy is imported from here, late).

Problems the user can fix raise `CommandError`, which the CLI prints as one line (exit 2);
a run that did its job returns normally even when kernels are wrong.
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


class CommandError(Exception):
    """What the user asked for cannot be done as asked (the message says why)."""


class SetupFault(Exception):
    """A fault of the set-up (sandbox, disk, store, verification worker) stopped the command;
    what it did is saved. Printed as one line, exit code 1."""


NO_MEMORY = "none"  # --memory none: no experience store at all (clean model benchmarks)


def solve(
    suite: str,
    *,
    model_flag: str | None,
    samples: int | None,
    tasks_glob: str | None,
    out: Path | None,
    resume: bool,
    max_cost: float | None,
    repair_rounds: int | None,
    optimise_rounds: int | None,
    guardian: bool | None,
    memory: Path | None,
    tune_budget: int | None = None,
    jobs: int | None,
    sandbox: str | None,
    executor: str = "local",
    address: str | None = None,
) -> None:
    """`None` for an option means "not given": a new run takes the default, a resumed run
    its own setting (run.json), so the printed resume command needs no flags."""
    from agents.models import CostMeter, ModelError, get_model, resolve_model_spec
    from agents.workflows.executors import EXECUTORS, ExecutorError, import_ray

    if samples is not None and samples < 1:
        raise CommandError(f"--samples must be at least 1, got {samples}")
    for name, value, low in (
        ("--repair-rounds", repair_rounds, 0),
        ("--optimise-rounds", optimise_rounds, 0),
        ("--tune-budget", tune_budget, 0),
        ("--jobs", jobs, 1),
    ):
        if value is not None and value < low:
            raise CommandError(f"{name} must be at least {low}, got {value}")
    if max_cost is not None and max_cost < 0:
        raise CommandError(f"--max-cost must be >= 0, got {max_cost}")
    if executor not in EXECUTORS:
        raise CommandError(f"--executor must be {' or '.join(EXECUTORS)}, got {executor!r}")
    if address is not None and executor != "ray":
        raise CommandError("--address is for --executor ray")
    if resume and out is None:
        raise CommandError("--resume needs --out DIR (the run to continue)")
    if resume and not out.is_dir():
        raise CommandError(f"--resume: there is no run folder {out}")
    suite_name = Path(suite).name or suite
    out = out or Path("runs") / f"{suite_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    saved = saved_run(out) if resume else {}
    given = {
        "--model": model_flag,
        "--memory": memory,
        "--max-cost": max_cost,
        "--samples": samples,
        "--repair-rounds": repair_rounds,
        "--optimise-rounds": optimise_rounds,
        "--tune-budget": tune_budget,
        "--guardian/--no-guardian": guardian,
    }
    overridden = [flag for flag, value in given.items() if value is not None]
    try:
        if model_flag is None and saved.get("model"):
            spec, source = saved["model"], f"the run's own, {out / 'run.json'}"
        else:
            spec, source = resolve_model_spec(model_flag)
        if max_cost is None:
            max_cost = saved.get("max_cost")
        # A resumed run's budget is the whole run's: what it spent before counts.
        meter = CostMeter(max_cost, spent_before_usd=spent_so_far(out) if resume else 0.0)
        base = get_model(spec)
        check = getattr(base, "preflight", None)
        if check is not None:  # first of all (seconds before a task): unknown model, no key
            check()
    except ModelError as exc:
        raise CommandError(str(exc)) from None
    if executor == "ray":
        try:  # after the model's preflight, which must answer in well under 2 s
            import_ray()
        except ExecutorError as exc:
            raise CommandError(str(exc)) from None
    from agents.workflows.run import RunError, RunOptions, RunStopped
    from agents.workflows.run_folder import exclusive
    from benchmarks.task import load_suite
    from memory.store import StoreError

    tasks = load_suite(suite)
    if tasks_glob:
        tasks = [
            t
            for t in tasks
            if fnmatch.fnmatch(t.name, tasks_glob) or fnmatch.fnmatch(t.key, tasks_glob)
        ]
        if not tasks:
            raise CommandError(f"--tasks {tasks_glob!r} matches no task of suite {suite}")
    if not tasks:
        raise CommandError(f"suite {suite} has no tasks")
    from sandbox import select_backend

    # Before any model call: a sandbox that cannot run is the set-up's fault, and no
    # program's (an unknown --sandbox name is a usage error).
    select_backend(sandbox)
    settings = run_settings(
        saved,
        builtin=spec == "builtin",
        samples=samples,
        repair_rounds=repair_rounds,
        optimise_rounds=optimise_rounds,
        guardian=guardian,
        tune_budget=tune_budget,
    )
    if memory is None and saved.get("memory"):
        memory = Path(saved["memory"])
    options = RunOptions(
        out=out,
        resume=resume,
        jobs=jobs or default_jobs(spec, len(tasks)),
        executor=executor,
        address=address,
        sandbox_backend=sandbox,
        settings=settings,
    )
    try:
        with exclusive(out):
            _run(
                tasks,
                suite_name=suite_name,
                spec=spec,
                source=source,
                base=base,
                meter=meter,
                memory=memory,
                options=options,
                again=again_command(suite, tasks_glob, out, options),
                overridden=overridden,
            )
    except (RunStopped, StoreError) as exc:
        raise SetupFault(str(exc)) from exc
    except (RunError, ExecutorError) as exc:
        raise CommandError(str(exc)) from None


def saved_run(out: Path) -> dict[str, Any]:
    """What the run in `out` was started with (run.json, else the copy in results.json);
    {} when neither can be read (`prepare` then says what is wrong with the folder)."""
    from agents.workflows import run_folder as rf

    try:
        return rf.read_run(out)
    except (rf.DamagedFile, OSError):
        pass
    try:
        return dict(rf.read_results(out / rf.RESULTS_FILE)["run"])
    except (rf.DamagedFile, OSError):
        return {}


def spent_so_far(out: Path) -> float:
    """What the run in `out` has spent, by its results.json (0 if there is none to read)."""
    from agents.workflows import run_folder as rf

    try:
        return float(rf.read_results(out / rf.RESULTS_FILE)["summary"].get("cost_usd") or 0.0)
    except (rf.DamagedFile, OSError, KeyError, TypeError, ValueError):
        return 0.0


def run_settings(
    saved: dict[str, Any],
    *,
    builtin: bool,
    samples: int | None,
    repair_rounds: int | None,
    optimise_rounds: int | None,
    guardian: bool | None,
    tune_budget: int | None = None,
) -> Any:
    """The solve settings: the options given, else the resumed run's own, else defaults."""
    from agents.workflows.solve import SolveSettings

    try:
        settings = SolveSettings(**saved.get("settings", {}))
    except TypeError as exc:
        raise CommandError(f"--resume: run.json's 'settings' do not fit ({exc})") from None
    if "settings" not in saved:
        # The builtin model answers the same prompt the same way every time: one sample.
        settings = replace(settings, samples=1 if builtin else settings.samples)
    given = {
        "samples": samples,
        "repair_rounds": repair_rounds,
        "optimise_rounds": optimise_rounds,
        "guardian": guardian,
        "tune_budget": tune_budget,
    }
    return replace(settings, **{k: v for k, v in given.items() if v is not None})


def again_command(suite: str, tasks_glob: str | None, out: Path, options: Any = None) -> str:
    """The command that continues a run (with the run's own settings, kept in run.json;
    where it runs is not a setting of the run, so a Ray run's command says it again)."""
    again = f"agent solve {suite}" + (f" --tasks '{tasks_glob}'" if tasks_glob else "")
    if options is not None and options.executor != "local":
        again += f" --executor {options.executor}"
        again += f" --address {options.address}" if options.address else ""
    return again + f" --out {out} --resume"


def open_memory(flag: Path | None) -> Any:
    """The experience store (`--memory`, $AGENT_MEMORY, the default file), or `NoMemory`."""
    from agents.workflows.run import memory_path
    from memory.store import ExperienceStore

    if flag is not None and str(flag) == NO_MEMORY:
        return NoMemory()
    return ExperienceStore(memory_path(flag))


class NoMemory:
    """`--memory none`: nothing is recalled and nothing recorded, so a run measures the
    model alone (and leaves no trace in any store)."""

    path = NO_MEMORY

    def recall(self, task: Any, k: int = 3) -> list:
        return []

    def best(self, task_key: str) -> None:
        return None

    def record_attempt(self, **attempt: Any) -> None:
        return None


def _run(
    tasks: list,
    *,
    suite_name: str,
    spec: str,
    source: str,
    base: Any,
    meter: Any,
    memory: Path | None,
    options: Any,
    again: str,
    overridden: list[str],
) -> None:
    """The run itself, with the run folder held (see `solve`): the executor is started
    first, so a cluster that cannot be reached leaves no run folder behind."""
    from agents.workflows.executors import open_executor

    workers = verify_workers(options.jobs)
    with open_executor(
        options.executor,
        address=options.address,
        workers=workers,
        sandbox_backend=options.sandbox_backend,
    ) as executor:
        _run_on(
            tasks,
            executor=executor,
            suite_name=suite_name,
            spec=spec,
            source=source,
            model=meter.wrap(executor.model(base)),
            meter=meter,
            memory=memory,
            options=options,
            again=again,
            overridden=overridden,
        )


def _run_on(
    tasks: list,
    *,
    executor: Any,
    suite_name: str,
    spec: str,
    source: str,
    model: Any,
    meter: Any,
    memory: Path | None,
    options: Any,
    again: str,
    overridden: list[str],
) -> None:
    from dataclasses import asdict

    from agents.solve_display import SolveDisplay, closing_table, summary_line, summary_notes
    from agents.workflows import run_folder as rf
    from agents.workflows.run import prepare, run_suite

    out = options.out
    store = open_memory(memory)
    run = prepare(out, tasks, suite=suite_name, model_spec=spec, options=options)
    # What a resume needs to go on as this run did (and what the run's results show).
    run.update(
        settings=asdict(options.settings),
        memory=str(store.path),
        max_cost=meter.max_cost_usd,
    )
    rf.write_json(out / rf.RUN_FILE, run)
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)  # a log has no width to fit: cut nothing
    console.print(
        f"model: [bold]{spec}[/] ({source}); {len(tasks)} tasks, {options.jobs} at once"
        f" ({executor.kind}); out: {out}; memory: {store.path}",
        highlight=False,
        soft_wrap=True,
    )
    if options.resume:
        console.print(
            f"resuming with model {spec}, memory {store.path},"
            f" {_describe(options.settings, meter.max_cost_usd)} (the run's own settings"
            + (f"; given now: {', '.join(overridden)})" if overridden else ")"),
            highlight=False,
            soft_wrap=True,
        )
    for repair in run.get("resumed", [{}])[-1].get("repairs", []) if options.resume else []:
        console.print(f"repaired: {repair}", markup=False, highlight=False, soft_wrap=True)
    display = SolveDisplay(console)
    try:
        with executor.verifier(run["timing_seed"]) as pool:
            results = run_suite(
                tasks,
                model=model,
                store=store,
                meter=meter,
                pool=pool,
                run=run,
                options=options,
                progress=display,
            )
    except KeyboardInterrupt:
        display.finish({})  # stop the live table before printing under it
        console.print(
            f"interrupted; partial results in {out / 'results.json'}; continue with: {again}",
            highlight=False,
            soft_wrap=True,
        )
        raise SystemExit(130) from None
    finally:
        display.finish({})  # a crash must not leave the terminal's cursor hidden
    if hasattr(store, "record_baseline"):  # so memory's examples can state their speedup
        by_key = {t.key: t for t in tasks}
        for entry in results["tasks"]:
            store.record_baseline(by_key[entry["task"]], entry.get("baseline_cycles"))
    console.print(closing_table(results))
    console.print(summary_line(results["summary"]), highlight=False, soft_wrap=True)
    for note in summary_notes(results, f"`agent report {out}`"):
        console.print(note, highlight=False, style="dim")
    if results["summary"].get("stopped"):
        console.print(
            f"stopped early ({results['summary']['stopped']}); continue with: {again}",
            highlight=False,
            soft_wrap=True,
        )
    if results["summary"].get("unpriced_models"):
        unpriced = ", ".join(results["summary"]["unpriced_models"])
        console.print(f"cost not counted (price unknown) for: {unpriced}", highlight=False)
    console.print(
        f"memory: {store.path}"
        + (" (none: nothing recalled or recorded)" if store.path == NO_MEMORY else ""),
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"wrote {out / 'results.json'}", highlight=False, soft_wrap=True)


def _describe(settings: Any, max_cost: float | None) -> str:
    """The settings a run goes on with, in one phrase."""
    budget = f"${max_cost:g}" if max_cost is not None else "none"
    return (
        f"samples {settings.samples}, repair rounds {settings.repair_rounds},"
        f" optimise rounds {settings.optimise_rounds},"
        f" guardian {'on' if settings.guardian else 'off'}, max cost {budget}"
    )


def report(folder: Path, *, output: Path | None, other: Path | None = None) -> None:
    from agents.report.compare import write_comparison
    from agents.report.html import ReportError, write_report

    try:
        path = write_comparison(folder, other, output) if other else write_report(folder, output)
    except ReportError as exc:
        raise CommandError(str(exc)) from None
    print(f"wrote {path}")


def memory(action: str, task: str | None, *, path: Path | None, json_out: bool, limit: int) -> None:
    from agents.workflows.run import memory_path
    from memory.store import ExperienceStore

    location = memory_path(path)
    if not location.is_file():
        raise CommandError(f"no experience store at {location} (set --memory or $AGENT_MEMORY)")
    store = ExperienceStore(location)  # a damaged store is a set-up fault: exit 1, one line
    console = Console()
    if action == "stats":
        stats = store.stats()
        if json_out:
            print(json.dumps(stats, indent=2))
            return
        _print_stats(console, stats)
    elif action == "show":
        if not task:
            raise CommandError("agent memory show needs a TASK (dialect/name)")
        rows = store.attempts(task_key=task)
        if not rows:
            raise CommandError(f"no attempts for task {task!r} in {location}")
        _show_attempts(console, task, rows[-limit:], store.best(task), json_out)
    elif action == "best":
        keys = sorted({a.task_key for a in store.attempts()})
        bests = [b for b in (store.best(k) for k in keys) if b is not None]
        if json_out:
            print(json.dumps([_attempt_json(b, program=False) for b in bests], indent=2))
            return
        table = Table(title=f"best verified program per task ({len(bests)} of {len(keys)})")
        for column in ("task", "attempt", "cycles", "lines", "model", "run"):
            table.add_column(column)
        for b in bests:
            table.add_row(
                b.task_key,
                str(b.id),
                str(b.cycles),
                str(len(b.program.splitlines())),
                b.model,
                b.run_id,
            )
        console.print(table)
    else:
        raise CommandError(
            f"unknown memory action {action!r}; use stats, ls, show TASK, best, export FILE,"
            " import FILE or prune"
        )


def _print_stats(console: Console, stats: dict[str, Any]) -> None:
    console.print(
        f"{stats['path']}: {stats['tasks']} tasks, {stats['solved']} solved,"
        f" {stats['attempts']} attempts in {stats['runs']} runs,"
        f" {stats['tokens']} tokens, ${stats['cost_usd']:.4f}",
        highlight=False,
    )
    statuses = ", ".join(f"{k} {v}" for k, v in stats["by_status"].items() if v)
    console.print(f"by status: {statuses or 'none'}", highlight=False)
    table = Table(title="by model")
    for column in ("model", "attempts", "passed", "tokens", "cost $"):
        table.add_column(column)
    for model, row in stats["by_model"].items():
        table.add_row(
            model,
            str(row["attempts"]),
            str(row["passed"]),
            str(row["tokens"]),
            f"{row['cost_usd']:.4f}",
        )
    console.print(table)


def _show_attempts(console: Console, task: str, rows: list, best: Any, json_out: bool) -> None:
    if json_out:
        print(
            json.dumps(
                {
                    "task": task,
                    "best": best.id if best else None,
                    "attempts": [_attempt_json(a, program=True) for a in rows],
                },
                indent=2,
            )
        )
        return
    # Feedback is what a reader came for: it gets the width (wrapped, at least 20 columns
    # on an 80-column terminal); model and run move to the title when all rows share them.
    origins = {(a.model, a.run_id) for a in rows}
    shared = len(origins) == 1
    title = f"{task}: last {len(rows)} attempts"
    if shared:
        model, run_id = next(iter(origins))
        title += f" (model {model}, run {run_id})"
    table = Table(title=title)
    for column in ("id", "parent", "status", "cycles"):
        table.add_column(column, no_wrap=True, min_width=len(column))
    if not shared:
        table.add_column("model, run", overflow="fold", max_width=14)
    table.add_column("feedback (--json: full)", ratio=1, min_width=20, overflow="fold")
    for a in rows:
        marker = " *" if best is not None and a.id == best.id else ""
        feedback = " ".join(a.feedback.split())
        cells = [
            f"{a.id}{marker}",
            str(a.parent_id or "-"),
            a.status,
            str(a.cycles) if a.cycles is not None else "-",
        ]
        if not shared:
            cells.append(f"{a.model}, {a.run_id}")
        cells.append(Text(feedback if len(feedback) <= 400 else feedback[:399] + "…"))
        table.add_row(*cells)
    console.print(table)
    if best is not None:
        console.print(f"best (*): attempt {best.id}, {best.cycles} cycles:", highlight=False)
        console.print(best.program, markup=False, highlight=False)


def _attempt_json(a: Any, *, program: bool) -> dict[str, Any]:
    item = {
        "id": a.id,
        "task": a.task_key,
        "status": a.status,
        "cycles": a.cycles,
        "model": a.model,
        "parent_id": a.parent_id,
        "run_id": a.run_id,
        "tokens": a.tokens,
        "cost_usd": a.cost_usd,
        "feedback": a.feedback,
    }
    if program:
        item["program"] = a.program
    return item


# Models whose calls stay on this machine and are cheap or order-sensitive: a scripted
# model takes its replies in file order, the builtin compiles in a moment, a queue waits on
# a person. They solve one task at a time unless --jobs says otherwise.
SEQUENTIAL_MODELS = ("builtin", "scripted:", "queue:")
NETWORK_JOBS = 4  # tasks at once for a network model: its calls mostly wait


def default_jobs(spec: str, tasks: int) -> int:
    """Tasks solved at once when --jobs is not given (see `SEQUENTIAL_MODELS`)."""
    if spec.startswith(SEQUENTIAL_MODELS):
        return 1
    return max(1, min(NETWORK_JOBS, tasks))


def verify_workers(jobs: int) -> int:
    """Verification worker processes: checks are CPU-bound, so one per core less one for
    the rest, at least one; two at most for one task at a time, `jobs` at most beyond."""
    spare = (os.cpu_count() or 1) - 1
    return max(1, min(max(2, jobs), spare))
