"""A solve run over a suite: each task through the solve graph, results kept as they come.

The run's folder holds everything needed to continue it or read it later:

    run.json               who, what and how (run id, suite, tasks, model, settings)
    checkpoints.sqlite     the langgraph checkpoints, one thread per task
    results.json           rewritten after every task (a killed run keeps what it did)
    tasks/<d>/<name>.json  every attempt of a task with its verdict
    programs/<d>/<name>.py the fastest verified program of each solved task

Tasks run one after another; inside a task, samples and their checks run in parallel.
Running out of budget stops the run cleanly between calls: results so far are written and
`--resume` continues where it stopped (with a larger budget).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.models import BudgetExceeded, CostMeter, Model
from agents.workflows import attempts as at
from agents.workflows import results as rs
from agents.workflows.attempts import Attempt
from agents.workflows.solve import SolveSettings, TaskSolver

if TYPE_CHECKING:
    from agents.workflows.verify_pool import VerifierPool
    from benchmarks.task import Task
    from memory.store import ExperienceStore

log = logging.getLogger(__name__)

MEMORY_ENV = "AGENT_MEMORY"
DEFAULT_MEMORY = Path("~/.agent/memory.sqlite")


class RunError(Exception):
    """The run cannot start as asked (the message says what to change)."""


def memory_path(flag: str | Path | None) -> Path:
    """The experience store: `--memory`, else $AGENT_MEMORY, else ~/.agent/memory.sqlite."""
    chosen = flag or os.environ.get(MEMORY_ENV, "").strip() or DEFAULT_MEMORY
    return Path(chosen).expanduser()


class Progress:
    """What a run tells its display (all no-ops here; see `agents.solve_display`).

    `attempt` is called from the workflow's worker threads.
    """

    def start(self, run: dict[str, Any], tasks: list[str]) -> None: ...
    def task_started(self, task: str, attempts: dict[str, Attempt]) -> None: ...
    def attempt(self, task: str, attempt: Attempt) -> None: ...
    def task_done(self, task: str, entry: dict[str, Any]) -> None: ...
    def finish(self, summary: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class RunOptions:
    out: Path
    resume: bool = False
    jobs: int = 1
    sandbox_backend: str | None = None
    settings: SolveSettings = field(default_factory=SolveSettings)


@dataclass
class RunState:
    """The run's bookkeeping while it goes."""

    run: dict[str, Any]
    entries: dict[str, dict[str, Any]]
    stopped: str | None = None


def prepare(
    out: Path, tasks: list[Task], *, suite: str, model_spec: str, options: RunOptions
) -> dict[str, Any]:
    """Create or reopen the run folder and return run.json's content."""
    meta_path = out / "run.json"
    keys = [t.key for t in tasks]
    if options.resume:
        if not meta_path.is_file():
            raise RunError(f"--resume: {out} holds no run (no run.json)")
        run = json.loads(meta_path.read_text())
        if sorted(run["tasks"]) != sorted(keys):
            raise RunError(
                f"--resume: {out} was a run of {len(run['tasks'])} tasks, this selects"
                f" {len(keys)}; give the same suite and --tasks"
            )
        run.setdefault("resumed", []).append({"at": time.time(), "model": model_spec})
    else:
        if meta_path.exists():
            raise RunError(
                f"{out} already holds a run; pass --resume to continue it or choose another --out"
            )
        run = {
            "run_id": f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}",
            "suite": suite,
            "tasks": keys,
            "model": model_spec,
            "started": time.time(),
            "settings": asdict(options.settings),
            "jobs": options.jobs,
        }
    out.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps(run, indent=2))
    return run


def resumed_settings(run: dict[str, Any], *, guardian: bool) -> SolveSettings:
    """A resumed run keeps the settings it started with (samples, rounds): the rounds
    already planned in its checkpoints assumed them. The guardian follows the model in use.
    """
    return replace(SolveSettings(**run["settings"]), guardian=guardian)


def run_suite(
    tasks: list[Task],
    *,
    model: Model,
    store: ExperienceStore,
    meter: CostMeter,
    pool: VerifierPool,
    run: dict[str, Any],
    options: RunOptions,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Solve every task; returns results.json's content (also written to disk)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    progress = progress or Progress()
    out = options.out
    state = RunState(run=run, entries={t.key: rs.not_run_entry(t.key) for t in tasks})
    progress.start(run, [t.key for t in tasks])
    conn = sqlite3.connect(out / "checkpoints.sqlite", check_same_thread=False)
    try:
        checkpointer = SqliteSaver(conn)
        for task in tasks:
            try:
                _solve_one(
                    task,
                    model=model,
                    store=store,
                    pool=pool,
                    run=run,
                    options=options,
                    checkpointer=checkpointer,
                    state=state,
                    progress=progress,
                )
            except BudgetExceeded as exc:
                log.info("stopping: %s", exc)
                state.stopped = f"budget: {exc}"
                break
            except KeyboardInterrupt:
                state.stopped = "interrupted"
                raise
            finally:
                _write(out, state, meter)
    finally:
        conn.close()
    results = _write(out, state, meter)
    progress.finish(results["summary"])
    return results


def _solve_one(
    task: Task,
    *,
    model: Model,
    store: ExperienceStore,
    pool: VerifierPool,
    run: dict[str, Any],
    options: RunOptions,
    checkpointer: Any,
    state: RunState,
    progress: Progress,
) -> None:
    settings = options.settings
    baseline = _baseline(pool, task)
    state.entries[task.key]["baseline_cycles"] = baseline
    solver = TaskSolver(
        task, model, store, pool, settings, run_id=run["run_id"], on_event=progress.attempt
    )
    graph = solver.graph(checkpointer)
    rounds = 2 + settings.repair_rounds + settings.optimise_rounds
    config = {
        "configurable": {"thread_id": task.key},
        "max_concurrency": max(settings.samples, options.jobs, 1),
        "recursion_limit": 4 * rounds + 10,
    }
    snapshot = graph.get_state(config)
    progress.task_started(task.key, dict(snapshot.values.get("attempts", {})))
    try:
        if snapshot.values and not snapshot.next:
            values = snapshot.values  # finished before the run was stopped
        else:
            start = None if snapshot.next else {"task": task.key}
            values = graph.invoke(start, config, durability="sync")
    except (BudgetExceeded, KeyboardInterrupt):
        _record_entry(
            task,
            graph.get_state(config).values.get("attempts", {}),
            baseline,
            options.out,
            state,
            progress,
        )
        raise
    _record_entry(task, values.get("attempts", {}), baseline, options.out, state, progress)


def _baseline(pool: VerifierPool, task: Task) -> int | None:
    try:
        return pool.baseline_cycles(task)
    except Exception:  # a broken baseline costs the speedup figure, not the run
        log.exception("baseline of %s could not be measured", task.key)
        return None


def _record_entry(
    task: Task,
    attempts: dict[str, Attempt],
    baseline: int | None,
    out: Path,
    state: RunState,
    progress: Progress,
) -> None:
    program_file = None
    winner = at.best(attempts)
    if winner is not None:
        path = out / "programs" / task.dialect / f"{task.name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(winner["program"] or "")
        program_file = str(path.relative_to(out))
    entry = rs.task_entry(task.key, attempts, baseline, program_file=program_file)
    if attempts:
        _write_detail(out, task, attempts, baseline, winner)
        entry["detail"] = f"tasks/{task.dialect}/{task.name}.json"
    state.entries[task.key] = entry
    progress.task_done(task.key, entry)


def _write_detail(
    out: Path,
    task: Task,
    attempts: dict[str, Attempt],
    baseline: int | None,
    winner: Attempt | None,
) -> None:
    """Every attempt with its verdict; only the best keeps its simulator timeline."""
    listed = []
    for attempt in at.ordered(attempts):
        item = dict(attempt)
        verdict = dict(item.get("verdict") or {})
        if winner is None or attempt["id"] != winner["id"]:
            verdict.pop("timeline", None)
        item["verdict"] = verdict
        listed.append(item)
    path = out / "tasks" / task.dialect / f"{task.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "task": task.key,
                "baseline_cycles": baseline,
                "best_attempt": winner["id"] if winner else None,
                "attempts": listed,
            },
            indent=1,
        )
    )


def _write(out: Path, state: RunState, meter: CostMeter) -> dict[str, Any]:
    entries = list(state.entries.values())
    # From the attempts, not the meter: a resumed run's totals include the first part.
    summary = rs.summary(
        entries,
        tokens=sum(e["tokens"] for e in entries),
        cost_usd=sum(e["cost_usd"] for e in entries),
        stopped=state.stopped,
    )
    if meter.unpriced_models:
        summary["unpriced_models"] = meter.unpriced_models
    run = {**state.run, "updated": time.time()}
    rs.write_results(out / "results.json", run, entries, summary)
    return {"run": run, "tasks": entries, "summary": summary}
