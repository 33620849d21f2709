"""The bodies of `agent improve` and of `agent memory ls | prune` (typer signatures are in
`agents.cli`, which stays light).

Running the same command again continues the run in its folder (the default folder is one
per suite set and day, so a nightly job resumes a killed night and starts a new one the
next day) with the run's own model, mode, settings and budget; options given again
override them, and the run says which.
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from agents.solve_cli import CommandError, SetupFault, run_settings, verify_workers


def improve(
    suites: list[str],
    *,
    model_flag: str | None,
    rounds: int | None,
    mode: str | None,
    executor: str,
    address: str | None,
    jobs: int,
    max_cost: float | None,
    memory: Path | None,
    out: Path | None,
    samples: int | None,
    repair_rounds: int | None,
    optimise_rounds: int | None,
    groups: int,
    tasks_glob: str | None,
    sandbox: str | None,
) -> None:
    from agents.models import CostMeter, ModelError, get_model, resolve_model_spec
    from agents.workflows import improve as im
    from agents.workflows.executors import EXECUTORS, ExecutorError, import_ray, open_executor
    from agents.workflows.run import RunError, RunStopped, memory_path
    from agents.workflows.run_folder import exclusive
    from memory.store import ExperienceStore, StoreError

    for name, value, low in (
        ("--rounds", rounds, 1),
        ("--jobs", jobs, 1),
        ("--groups", groups, 1),
        ("--samples", samples, 1),
        ("--repair-rounds", repair_rounds, 0),
        ("--optimise-rounds", optimise_rounds, 0),
    ):
        if value is not None and value < low:
            raise CommandError(f"{name} must be at least {low}, got {value}")
    if executor not in EXECUTORS:
        raise CommandError(f"--executor must be {' or '.join(EXECUTORS)}, got {executor!r}")
    if address is not None and executor != "ray":
        raise CommandError("--address is for --executor ray")
    if mode is not None and mode not in im.MODES:
        raise CommandError(f"--mode must be one of {', '.join(im.MODES)}, not {mode!r}")
    if max_cost is not None and max_cost < 0:
        raise CommandError(f"--max-cost must be >= 0, got {max_cost}")
    if memory is not None and str(memory) == "none":
        raise CommandError("--memory none: improve learns from memory; give a store file")
    tasks = _load_tasks(suites, tasks_glob)
    names = "+".join(Path(s).name or s for s in suites)
    out = out or Path("runs") / f"improve-{names}-{time.strftime('%Y%m%d')}"
    saved = _saved(out)
    try:
        if model_flag is None and saved.get("model"):
            spec, source = saved["model"], f"the run's own, {out / im.IMPROVE_FILE}"
        else:
            spec, source = resolve_model_spec(model_flag)
        base = get_model(spec)
        check = getattr(base, "preflight", None)
        if check is not None:  # before any task: an unknown model or a missing key
            check()
    except ModelError as exc:
        raise CommandError(str(exc)) from None
    if executor == "ray":
        try:  # Ray missing is said before any folder is written
            import_ray()
        except ExecutorError as exc:
            raise CommandError(str(exc)) from None
    if saved and mode is not None and mode != saved.get("mode"):
        raise CommandError(f"{out} is a {saved.get('mode')} run; --mode {mode} needs another --out")
    settings = run_settings(
        saved,
        builtin=spec == "builtin",
        samples=samples,
        repair_rounds=repair_rounds,
        optimise_rounds=optimise_rounds,
        guardian=None,
    )
    options = im.ImproveOptions(
        out=out,
        rounds=rounds or saved.get("max_rounds") or 3,
        mode=mode or saved.get("mode") or "adaptive",
        groups=saved.get("groups", groups),
        jobs=jobs,
        sandbox_backend=sandbox,
        settings=settings,
    )
    from sandbox import select_backend

    select_backend(sandbox)  # a sandbox that cannot run is found before any model call
    memory = memory or (Path(saved["memory"]) if saved.get("memory") else None)
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)  # a log has no width to fit: cut nothing
    try:
        with exclusive(out):
            store = ExperienceStore(memory_path(memory))
            record = im.start_or_resume(out, tasks, suites=suites, model_spec=spec, options=options)
            resumed = bool(record["rounds"])
            record.update(
                model=spec,
                max_rounds=options.rounds,
                settings=asdict(settings),
                memory=str(store.path),
                max_cost=max_cost if max_cost is not None else record.get("max_cost"),
            )
            meter = CostMeter(record["max_cost"], spent_before_usd=im.spent(record, out))
            console.print(
                f"improve ({record['mode']}): model {spec} ({source}); {len(tasks)} tasks;"
                f" up to {options.rounds} rounds; out: {out}; memory: {store.path}",
                highlight=False,
                soft_wrap=True,
            )
            if resumed:
                flags = (
                    ("--model", model_flag),
                    ("--rounds", rounds),
                    ("--samples", samples),
                    ("--max-cost", max_cost),
                )
                given = [flag for flag, value in flags if value is not None]
                console.print(
                    f"continuing run {record['run_id']} after round {len(record['rounds'])}"
                    " with its own settings"
                    + (f" (given now: {', '.join(given)})" if given else ""),
                    highlight=False,
                )
            with (
                open_executor(
                    executor, address=address, workers=verify_workers(jobs), sandbox_backend=sandbox
                ) as ex,
                ex.verifier(record["timing_seed"]) as verifier,
            ):
                record = im.improve(
                    tasks,
                    model=meter.wrap(ex.model(base)),
                    store=store,
                    meter=meter,
                    verifier=verifier,
                    record=record,
                    options=options,
                    on_round=lambda rec, plan: _round_line(console, plan),
                )
    except KeyboardInterrupt:
        console.print(
            f"interrupted; run the same command again to continue (folder {out})",
            highlight=False,
        )
        raise SystemExit(130) from None
    except ExecutorError as exc:
        raise CommandError(str(exc)) from None
    except (RunStopped, StoreError) as exc:
        raise SetupFault(f"{exc} (run the same command again to continue)") from exc
    except RunError as exc:
        raise CommandError(str(exc)) from None
    console.print(rounds_table(record["rounds"]))
    console.print(
        f"stopped: {record.get('stopped') or 'done'}; wrote {out / 'results.json'}"
        f" (`agent report {out}` draws the rounds)",
        highlight=False,
        soft_wrap=True,
    )


def _load_tasks(suites: list[str], tasks_glob: str | None) -> list[Any]:
    from benchmarks.task import load_suite

    tasks = [t for suite in suites for t in load_suite(suite)]
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise CommandError("the suites given share tasks; give each suite once")
    if tasks_glob:
        tasks = [
            t
            for t in tasks
            if fnmatch.fnmatch(t.name, tasks_glob) or fnmatch.fnmatch(t.key, tasks_glob)
        ]
        if not tasks:
            raise CommandError(f"--tasks {tasks_glob!r} matches no task of {', '.join(suites)}")
    if not tasks:
        raise CommandError(f"{', '.join(suites)}: no tasks")
    return tasks


def _saved(out: Path) -> dict[str, Any]:
    """The improve run in `out`, if there is one (its own settings)."""
    from agents.workflows import improve as im
    from agents.workflows.run import RunError

    path = out / im.IMPROVE_FILE
    if not path.exists():
        return {}
    try:
        return im.read_record(path)
    except RunError as exc:
        raise CommandError(str(exc)) from None


def _round_line(console: Console, plan: dict[str, Any]) -> None:
    n = plan["round"]
    if plan["status"] == "planned":
        shown = sum(len(ids) for ids in plan["examples"].values())
        console.print(
            f"round {n}: {len(plan['tasks'])} tasks to retry at temperature"
            f" {plan['temperature']:g}, {shown} examples (selection step {plan['step']})",
            highlight=False,
        )
        return
    console.print(
        f"round {n}: solved {plan['solved']}/{plan['total']} ({plan['pass_rate']:.0%});"
        f" new {len(plan['newly_solved'])}, faster {len(plan['faster'])};"
        f" {plan['new_experiences']} new verified programs; ${plan['cost_usd']:.4f}",
        highlight=False,
    )


def rounds_table(rounds: list[dict[str, Any]]) -> Table:
    table = Table(title="rounds")
    for column in ("round", "temp", "retried", "solved", "pass rate", "new", "faster"):
        table.add_column(column)
    for column in ("new programs", "geomean speedup", "cost $"):
        table.add_column(column)
    for r in rounds:
        if r["status"] == "planned":
            continue
        geomean = r.get("geomean_speedup")
        table.add_row(
            str(r["round"]),
            f"{r['temperature']:g}",
            str(len(r["tasks"])),
            f"{r['solved']}/{r['total']}",
            f"{r['pass_rate']:.0%}",
            str(len(r["newly_solved"])),
            str(len(r["faster"])),
            str(r["new_experiences"]),
            f"{geomean:g}x" if geomean else "-",
            f"{r['cost_usd']:.4f}",
        )
    return table


def memory(
    action: str, path: Path | None, *, older_than: float, dry_run: bool, json_out: bool
) -> None:
    """`agent memory ls` (one line per task) and `agent memory prune`."""
    import json

    from agents.workflows.run import memory_path
    from memory.store import ExperienceStore

    location = memory_path(path)
    if not location.is_file():
        raise CommandError(f"no experience store at {location} (set --memory or $AGENT_MEMORY)")
    store = ExperienceStore(location)
    if action == "prune":
        if older_than < 0:
            raise CommandError(f"--older-than must be >= 0 days, got {older_than}")
        count = store.prune(older_than, dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        print(
            f"{verb} {count} failed attempts older than {older_than:g} days from {location}"
            " (verified programs and the failures they were repaired from are kept)"
        )
        return
    rows = store.tasks()
    if json_out:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{location}: {len(rows)} tasks")
    for column in ("task", "attempts", "verified programs", "best cycles", "baseline", "speedup"):
        table.add_column(column)
    for row in rows:
        speedup = row["speedup"]
        table.add_row(
            row["task"],
            str(row["attempts"]),
            str(row["verified_programs"]),
            str(row["best_cycles"] if row["best_cycles"] is not None else "-"),
            str(row["baseline_cycles"] if row["baseline_cycles"] is not None else "-"),
            f"{speedup:.3g}x" if speedup else "-",
        )
    Console().print(table)
