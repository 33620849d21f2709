"""A solve run over a suite: each task through the solve graph, results kept as they come.

The run's folder holds everything needed to continue it or read it later:

    run.json               who, what and how (run id, suite, tasks, model, settings, and
                           the secret timing seed every check of the run is timed with)
    checkpoints.sqlite     the langgraph checkpoints, one thread per task
    results.json           rewritten after every task (a killed run keeps what it did)
    tasks/<d>/<name>.json  every attempt of a task with its verdict
    programs/<d>/<name>.py the fastest verified program of each solved task
    run.lock               held by the one process writing the folder

`--jobs` tasks run at once (their workflows in threads; see `executors`), and inside a
task its samples and their checks run in parallel; only the calling thread writes results.
Running out of budget stops the run cleanly between calls: results so far are written and
`--resume` continues where it stopped (with a larger budget). A resume only merges
forward: a task's entry is replaced only by one that knows at least as much (see
`results.merge_entry`), so an interrupted resume never reports fewer solved tasks.

Faults of the set-up (sandbox configuration, a verification worker that keeps dying, a
full disk, the experience store) are not faults of any program: they stop the run with
`RunStopped` (one line) and are never recorded as a verdict.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.models import BudgetExceeded, CostMeter, Model, ModelConfigError
from agents.workflows import attempts as at
from agents.workflows import results as rs
from agents.workflows import run_folder as rf
from agents.workflows.attempts import RunAttempt
from agents.workflows.executors import GatedVerifier, StopRequested, TaskThreads, gated_model
from agents.workflows.run_folder import RunError
from agents.workflows.solve import SolveSettings, TaskSolver

if TYPE_CHECKING:
    from agents.workflows.verify_pool import VerifierPool
    from benchmarks.task import Task
    from memory.store import ExperienceStore

log = logging.getLogger(__name__)

TIMING_SEED_BITS = 32  # as VerifierPool documents its seeds

__all__ = ["RunError", "RunStopped", "prepare", "run_suite", "setup_fault"]


class RunStopped(RunError):
    """A fault of the set-up stopped the run; what it did is written (message: one line)."""


def memory_path(flag: str | Path | None) -> Path:
    """The experience store: `--memory`, else `memory.default_store_path()`."""
    from memory import default_store_path

    return Path(flag).expanduser() if flag else default_store_path()


def setup_fault(exc: BaseException, checkpoints: Path | None = None) -> str | None:
    """One line for a fault of the set-up rather than of a program, else None.

    These stop the run: recorded as a verdict they would teach memory that a good program
    failed, and a paid model would be asked to "repair" it. A bare SQLite error is the
    checkpoint store's (the experience store raises its own `StoreError`, naming its file).
    """
    from agents.workflows.verify_pool import WorkerDied
    from benchmarks.task import TaskError
    from memory.store import StoreError
    from sandbox.backends import SandboxConfigError

    if isinstance(exc, StoreError | RunError | ModelConfigError):  # no call can succeed
        return str(exc)
    if rf.disk_full(exc, checkpoints):
        where = getattr(exc, "filename", None) or checkpoints
        return f"disk full{f' writing {where}' if where else ''}: free some space, then --resume"
    if isinstance(exc, SandboxConfigError):
        return f"sandbox configuration: {exc}"
    if isinstance(exc, WorkerDied):
        return f"verification worker: {exc}"
    if isinstance(exc, sqlite3.DatabaseError):
        return f"{checkpoints or 'checkpoint store'}: {exc}"
    if isinstance(exc, TaskError):  # a task's data file went missing under the run
        return str(exc)
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return None


class Progress:
    """What a run tells its display (all no-ops here; see `agents.solve_display`).

    `attempt` is called from the workflow's worker threads.
    """

    def start(self, run: dict[str, Any], tasks: list[str]) -> None: ...
    def task_started(self, task: str, attempts: dict[str, RunAttempt]) -> None: ...
    def attempt(self, task: str, attempt: RunAttempt) -> None: ...
    def task_done(self, task: str, entry: dict[str, Any]) -> None: ...
    def finish(self, summary: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class RunOptions:
    out: Path
    resume: bool = False
    jobs: int = 1  # tasks solved at once
    executor: str = "local"  # where model calls and checks run (see `executors`)
    address: str | None = None  # the Ray cluster, for executor "ray"
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
    """Create or reopen the run folder and return run.json's content.

    A resume that had to repair the folder says what it did in the `repairs` of its
    `resumed` record (the CLI prints them).
    """
    keys = [t.key for t in tasks]
    if options.resume:
        run = _reopen(out, keys, model_spec, options)
    else:
        found = rf.holds_a_run(out)
        if found:
            raise RunError(
                f"{out} already holds a run ({found}); pass --resume to continue it"
                " or choose another --out"
            )
        run = {
            "run_id": f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}",
            "suite": suite,
            "tasks": keys,
            "model": model_spec,
            "started": time.time(),
            "settings": asdict(options.settings),
            "jobs": options.jobs,
            "executor": options.executor,
            "timing_seed": secrets.randbits(TIMING_SEED_BITS),
        }
    rf.write_json(out / rf.RUN_FILE, run)
    return run


def _reopen(out: Path, keys: list[str], model_spec: str, options: RunOptions) -> dict[str, Any]:
    """run.json of the run in `out`, checked, with whatever was damaged set aside. Each
    resume is recorded with the model, jobs and executor it ran with (they may differ from
    the first part's, which keeps its own)."""
    if not rf.holds_a_run(out):
        raise RunError(f"--resume: {out} holds no run (no run.json)")
    repairs: list[str] = []
    previous = _readable_results(out, repairs)
    try:
        run = rf.read_run(out)
    except rf.DamagedFile as exc:
        run = _rebuilt_run(out, previous, exc)
        repairs.append(f"{exc}; rebuilt it from results.json (run {run['run_id']})")
    if previous is not None and previous["run"].get("run_id") != run["run_id"]:
        raise RunError(
            f"--resume: {out / rf.RESULTS_FILE} belongs to run {previous['run'].get('run_id')},"
            f" run.json to {run['run_id']}; choose another --out"
        )
    try:
        SolveSettings(**run["settings"])
    except TypeError as exc:
        raise RunError(f"--resume: {out / rf.RUN_FILE}: 'settings' do not fit ({exc})") from None
    if sorted(run["tasks"]) != sorted(keys):
        raise RunError(
            f"--resume: {out} was a run of {len(run['tasks'])} tasks, this selects"
            f" {len(keys)}; give the same suite and --tasks"
        )
    if "timing_seed" not in run:  # a run started before seeds were kept, or rebuilt
        run["timing_seed"] = secrets.randbits(TIMING_SEED_BITS)
        repairs.append("run.json had no timing seed: drew one; earlier cycles were on other inputs")
    checkpoints = out / rf.CHECKPOINTS_FILE
    damage = rf.checkpoint_damage(checkpoints) if checkpoints.exists() else None
    if damage is None and not checkpoints.exists() and previous is not None:
        if any(e.get("attempts") for e in previous["tasks"]):
            damage = "missing"
    if damage is not None:
        kept = rf.set_aside(checkpoints)
        repairs.append(
            f"{checkpoints}: {damage}; set aside as {kept.name}: tasks results.json marks"
            " finished are kept, the others start again"
        )
    run.setdefault("resumed", []).append(
        {
            "at": time.time(),
            "model": model_spec,
            "jobs": options.jobs,
            "executor": options.executor,
            "repairs": repairs,
        }
    )
    return run


def _readable_results(out: Path, repairs: list[str]) -> dict[str, Any] | None:
    path = out / rf.RESULTS_FILE
    if not path.exists():
        return None
    try:
        return rf.read_results(path)
    except rf.DamagedFile as exc:
        kept = rf.set_aside(path)
        repairs.append(f"{exc}; set aside as {kept.name}, rebuilt from the checkpoints")
        return None


def _rebuilt_run(out: Path, previous: dict[str, Any] | None, damage: Exception) -> dict[str, Any]:
    if previous is None:
        raise RunError(
            f"--resume: {damage}; and no readable results.json to rebuild it from:"
            " choose another --out"
        ) from None
    try:
        run = rf.check_run(dict(previous["run"]), out / rf.RESULTS_FILE)
    except rf.DamagedFile as exc:
        raise RunError(f"--resume: {damage}; cannot rebuild it: {exc}") from None
    run.pop("updated", None)
    if (out / rf.RUN_FILE).exists():
        rf.set_aside(out / rf.RUN_FILE)
    return run


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
    """Solve every task, `options.jobs` at once; returns results.json's content (also
    written to disk, after every task).

    The tasks' workflows run in threads (see `executors.TaskThreads`); what they find is
    recorded here, on the calling thread, the only one that writes the run folder's results.
    Raises `RunStopped` for a fault of the set-up, after writing what was done.
    """
    from langgraph.checkpoint.sqlite import SqliteSaver

    progress = progress or Progress()
    out = options.out
    previous = _previous_entries(out, run) if options.resume else {}
    state = RunState(
        run=run, entries={t.key: previous.get(t.key) or rs.not_run_entry(t.key) for t in tasks}
    )
    progress.start(run, [t.key for t in tasks])
    try:
        conn = sqlite3.connect(out / rf.CHECKPOINTS_FILE, check_same_thread=False)
    except sqlite3.Error as exc:
        raise RunStopped(f"{out / rf.CHECKPOINTS_FILE}: {exc}") from exc
    threads = TaskThreads(max(1, options.jobs))
    context = _TaskContext(
        model=gated_model(model, threads.stop),
        store=store,
        pool=GatedVerifier(pool, threads.stop),
        run=run,
        options=options,
        checkpointer=SqliteSaver(conn),
        progress=progress,
        previous=previous,
    )
    try:
        try:
            for task, outcome in threads.run(context.solve, tasks):
                _settle(task, outcome, threads, state, out, meter, progress)
        except KeyboardInterrupt:
            state.stopped = "interrupted"
            _stop(threads, state, out, meter, progress)
            raise
        except BaseException:
            _stop(threads, state, out, meter, progress)
            raise
    finally:
        if not threads.running:  # else a task still holds it: the process exit closes it
            conn.close()
    results = _save(out, state, meter)
    progress.finish(results["summary"])
    return results


# Ctrl-C or a fault: how long the tasks still running get to stop at their next call and
# report; past it they are left to the checkpoints (which a resume reads).
STOP_GRACE_S = 5.0


def _settle(
    task: Task,
    outcome: TaskOutcome,
    threads: TaskThreads,
    state: RunState,
    out: Path,
    meter: CostMeter,
    progress: Progress,
) -> None:
    """Record a finished task's entry, then act on how it ended (on the driver's thread)."""
    if outcome.attempts is not None:
        state.entries[task.key]["baseline_cycles"] = outcome.baseline
        _record_entry(
            task,
            outcome.attempts,
            outcome.baseline,
            out,
            state,
            progress,
            done=outcome.error is None,
        )
    error = outcome.error
    if error is None or isinstance(error, StopRequested):
        _save(out, state, meter)
        return
    if isinstance(error, BudgetExceeded):
        log.info("stopping: %s", error)
        state.stopped = state.stopped or f"budget: {error}"
        threads.finish()  # the running tasks stop at their own next call: the meter is shared
        _save(out, state, meter)
        return
    if isinstance(error, KeyboardInterrupt):  # raised inside a call: stop as for Ctrl-C
        raise error
    fault = setup_fault(error, out / rf.CHECKPOINTS_FILE)
    state.stopped = f"set-up fault: {fault}" if fault else "internal error"
    if fault is None:
        raise error
    raise RunStopped(f"{task.key}: {fault}") from error


def _stop(
    threads: TaskThreads, state: RunState, out: Path, meter: CostMeter, progress: Progress
) -> None:
    """Stop the running tasks, record what they report within the grace, write results."""
    threads.cancel()
    for task, outcome in threads.drain(STOP_GRACE_S):
        if outcome.attempts is not None:
            _record_entry(
                task, outcome.attempts, outcome.baseline, out, state, progress, done=False
            )
    _save(out, state, meter, quiet=True)


def _previous_entries(out: Path, run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The entries results.json already holds for this run (the floor a resume merges onto)."""
    path = out / rf.RESULTS_FILE
    try:
        results = rf.read_results(path) if path.exists() else None
    except rf.DamagedFile:
        log.warning("%s is unreadable: this resume starts from the checkpoints alone", path)
        return {}
    if results is None or results["run"].get("run_id") != run["run_id"]:
        return {}
    return {e["task"]: e for e in results["tasks"]}


@dataclass
class TaskOutcome:
    """How one task's workflow ended: its attempts (None: nothing to record, results.json's
    entry stands), its baseline, and what stopped it (None: it finished)."""

    attempts: dict[str, RunAttempt] | None = None
    baseline: int | None = None
    error: BaseException | None = None


@dataclass
class _TaskContext:
    """What every task's workflow shares; `solve` runs one (in a task thread)."""

    model: Model
    store: ExperienceStore
    pool: Any
    run: dict[str, Any]
    options: RunOptions
    checkpointer: Any
    progress: Progress
    previous: dict[str, dict[str, Any]]

    def solve(self, task: Task) -> TaskOutcome:
        """Run the task's workflow; never raises (the outcome carries the error)."""
        outcome = TaskOutcome()
        try:
            self._solve(task, outcome)
        except BaseException as exc:
            outcome.error = exc
        return outcome

    def _solve(self, task: Task, outcome: TaskOutcome) -> None:
        settings = self.options.settings
        finished = self.previous.get(task.key)
        solver = TaskSolver(
            task,
            self.model,
            self.store,
            self.pool,
            settings,
            run_id=self.run["run_id"],
            on_event=self.progress.attempt,
        )
        graph = solver.graph(self.checkpointer)
        rounds = 2 + settings.repair_rounds + settings.optimise_rounds
        config = {
            "configurable": {"thread_id": task.key},
            "max_concurrency": max(settings.samples, 1),
            "recursion_limit": 4 * rounds + 10,
        }
        snapshot = _snapshot(graph, config, self.checkpointer, task)
        if not snapshot.values and finished is not None and finished.get("finished"):
            # The checkpoints were lost, but results.json shows this task done: keep it.
            self.progress.task_started(task.key, {})
            self.progress.task_done(task.key, finished)
            return
        done_before = bool(snapshot.values) and not snapshot.next
        if done_before and finished is not None and finished.get("baseline_cycles") is not None:
            outcome.baseline = finished["baseline_cycles"]  # measured by this run, on its seed
        else:
            outcome.baseline = _baseline(self.pool, task)
        self.progress.task_started(task.key, dict(snapshot.values.get("attempts", {})))
        try:
            if done_before:
                values = snapshot.values  # finished before the run was stopped
            else:
                start = None if snapshot.next else {"task": task.key}
                values = graph.invoke(start, config, durability="sync")
        except BaseException:
            try:  # what the checkpoints hold so far (the checkpoints may be what failed)
                outcome.attempts = graph.get_state(config).values.get("attempts", {})
            except Exception:
                log.warning("could not read %s's attempts after the fault", task.key, exc_info=True)
            raise
        outcome.attempts = values.get("attempts", {})


def _snapshot(graph: Any, config: dict[str, Any], checkpointer: Any, task: Task) -> Any:
    """The task's checkpointed state; a thread that cannot be read starts over."""
    try:
        return graph.get_state(config)
    except sqlite3.Error:
        raise
    except Exception as exc:  # a damaged checkpoint blob (quick_check passes over values)
        log.warning("checkpoint of %s is unreadable (%s): the task starts again", task.key, exc)
        checkpointer.delete_thread(task.key)
        return graph.get_state(config)


def _baseline(pool: VerifierPool, task: Task) -> int | None:
    try:
        return pool.baseline_cycles(task)
    except Exception as exc:  # a broken baseline costs the speedup figure, not the run
        if setup_fault(exc):
            raise
        log.exception("baseline of %s could not be measured", task.key)
        return None


def _record_entry(
    task: Task,
    attempts: dict[str, RunAttempt],
    baseline: int | None,
    out: Path,
    state: RunState,
    progress: Progress,
    *,
    done: bool = True,
) -> None:
    """The task's entry, merged onto what results.json had (its files written if it wins)."""
    winner = at.best(attempts)
    program_file = f"programs/{task.dialect}/{task.name}.py" if winner else None
    entry = rs.task_entry(task.key, attempts, baseline, program_file=program_file)
    entry["finished"] = done
    if attempts:
        entry["detail"] = f"tasks/{task.dialect}/{task.name}.json"
    kept = rs.merge_entry(state.entries[task.key], entry)
    if kept is entry:
        if winner is not None:
            rf.write_atomic(out / program_file, winner["program"] or "")
        if attempts:
            _write_detail(out, task, attempts, baseline, winner)
    state.entries[task.key] = kept
    progress.task_done(task.key, kept)


def _write_detail(
    out: Path,
    task: Task,
    attempts: dict[str, RunAttempt],
    baseline: int | None,
    winner: RunAttempt | None,
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
    rf.write_json(
        out / "tasks" / task.dialect / f"{task.name}.json",
        {
            "task": task.key,
            "baseline_cycles": baseline,
            "best_attempt": winner["id"] if winner else None,
            "attempts": listed,
        },
        indent=1,
    )


def _save(out: Path, state: RunState, meter: CostMeter, *, quiet: bool = False) -> dict[str, Any]:
    """Write results.json. `quiet` (already stopping for another reason): a failed write
    is logged, so it does not hide that reason."""
    try:
        return _write(out, state, meter)
    except OSError as exc:
        if quiet:
            log.info("could not write %s: %s", out / rf.RESULTS_FILE, exc)
            return {}
        raise RunStopped(setup_fault(exc) or f"{out / rf.RESULTS_FILE}: {exc}") from exc


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
    # The timing seed stays in run.json: results are shared, the inputs stay secret.
    run = {k: v for k, v in state.run.items() if k != "timing_seed"} | {"updated": time.time()}
    rs.write_results(out / rf.RESULTS_FILE, run, entries, summary)
    return {"run": run, "tasks": entries, "summary": summary}
