"""`agent improve`: the seed paper's adaptive self-improvement, in rounds of solve runs.

Each round is an ordinary solve run (agents/workflows/run.py) over the tasks worth another
try — the unsolved ones, and the solved ones whose best program is not faster than their
baseline (improvable) — with the examples the round's plan chose. In `adaptive` mode:

- solved tasks of a dialect are split into strata by how many distinct verified programs
  they have (memory/selection.py): few means hard-earned;
- the first round of an iteration shows the hardest stratum's solutions (the shortest
  verified program of each task, ranked by relevance to the task asked about, under
  memory's relevance floor) at the lowest temperature;
- a round that adds nothing (no task newly solved, no best made faster) widens the
  selection to the next easier stratum and raises the temperature (`TEMPERATURES`);
- a round that adds something starts a new iteration: strata are drawn again from the
  grown memory, hardest first, lowest temperature;
- the run stops when the widest selection at the highest temperature added nothing, when
  nothing is left to retry, when the rounds are spent (`--rounds`) or the budget is.

The seed's comparison modes: `single` (the proposer alone at temperature 1.0, no examples:
repeated independent sampling) and `guardian` (proposer + guardian at 0.5, no examples).

The folder (OUT):

    improve.json       the run: settings, timing seed, one record per round
    rounds/<n>/        round n's solve run (run.json, checkpoints, results.json, ...)
    results.json       every task's best over the rounds (so `agent report OUT` works),
                       with the rounds' records under "rounds"

Crash-safe: a round's plan (its tasks, examples, temperature, and what memory knew before
it) is written to improve.json before the round runs; a killed run, run again, finds the
plan and resumes that round's solve run from its checkpoints (same run id, so the store,
unique by run, task, program and round, adds nothing twice), then goes on. Every file is
replaced whole (run_folder.write_atomic). One process holds the folder (`run.lock`); any
number of runs may share the store (SQLite WAL, memory/store.py).
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.workflows import results as rs
from agents.workflows import run_folder as rf
from agents.workflows.run import RunError, RunOptions, prepare, run_suite
from agents.workflows.solve import SolveSettings
from memory.selection import selection_ladder

if TYPE_CHECKING:
    from agents.models import CostMeter, Model
    from benchmarks.task import Task
    from memory.store import Attempt, ExperienceStore

log = logging.getLogger(__name__)

IMPROVE_FILE = "improve.json"
ROUNDS_DIR = "rounds"
MODES = ("adaptive", "single", "guardian")
TEMPERATURES = (0.4, 0.7, 1.0)  # the seed's: rising while rounds add nothing
MODE_TEMPERATURE = {"single": 1.0, "guardian": 0.5}  # the seed's comparison baselines


@dataclass(frozen=True)
class ImproveOptions:
    """How a new run starts (`rounds`, `mode`, `groups` and `settings` go into improve.json,
    which a resumed run follows) and where its rounds run (`out`, `jobs`, sandbox)."""

    out: Path
    rounds: int = 3
    mode: str = "adaptive"
    groups: int = 3  # strata (the paper's m: hard / medium / easy)
    jobs: int = 1
    sandbox_backend: str | None = None
    settings: SolveSettings = SolveSettings()


class SelectedExamples:
    """The store as one round sees it: recall offers only the round's selected examples
    (ranked by relevance to the task asked about; none below memory's floor), and the
    improvement pair only in adaptive mode. Everything else is the store's."""

    def __init__(
        self, store: ExperienceStore, examples: dict[str, list[Attempt]], *, pairs: bool
    ) -> None:
        self.store = store
        self.path = store.path
        self.examples = examples
        self.pairs = pairs

    def recall(self, task: Task, k: int = 3) -> list[Attempt]:
        chosen = {a.task_key: a for a in self.examples.get(task.dialect, [])}
        if not chosen or k <= 0:
            return []
        return [chosen[key] for key, _ in self.store.similar(task) if key in chosen][:k]

    def recall_pair(self, task: Task) -> Any:
        return self.store.recall_pair(task) if self.pairs else None

    def best(self, task_key: str) -> Attempt | None:
        return self.store.best(task_key)

    def record_attempt(self, **attempt: Any) -> int:
        return self.store.record_attempt(**attempt)


# ---------------------------------------------------------------------- the run's record


def start_or_resume(
    out: Path, tasks: list[Task], *, suites: list[str], model_spec: str, options: ImproveOptions
) -> dict[str, Any]:
    """improve.json: the run in `out` (its own settings: a run resumes as it started) or a
    new one. A folder holding some other run is refused."""
    path = out / IMPROVE_FILE
    keys = sorted(t.key for t in tasks)
    if path.exists():
        record = read_record(path)
        if sorted(record["tasks"]) != keys:
            raise RunError(
                f"{out} improves {len(record['tasks'])} other tasks; give the same suites"
                " or choose another --out"
            )
        return record
    found = rf.holds_a_run(out)
    if found:
        raise RunError(f"{out} already holds a solve run ({found}); choose another --out")
    record = {
        "run_id": f"improve-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}",
        "suites": suites,
        "tasks": keys,
        "model": model_spec,
        "mode": options.mode,
        "max_rounds": options.rounds,
        "groups": options.groups,
        "settings": asdict(options.settings),
        "timing_seed": secrets.randbits(32),
        "started": time.time(),
        "rounds": [],
        "stopped": None,
    }
    rf.write_json(path, record)
    return record


def read_record(path: Path) -> dict[str, Any]:
    """improve.json, checked enough to go on with (`RunError` naming the file otherwise;
    the file is only ever replaced whole, so damage means someone else wrote it)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunError(f"{path}: cannot be read as an improve run ({exc})") from None
    needed = ("run_id", "tasks", "model", "mode", "rounds", "settings", "timing_seed")
    if not isinstance(record, dict) or any(k not in record for k in needed):
        raise RunError(f"{path}: not an improve run; choose another --out")
    return record


def _save(out: Path, record: dict[str, Any]) -> None:
    rf.write_json(out / IMPROVE_FILE, record)


# ---------------------------------------------------------------------- planning


def known(store: ExperienceStore, tasks: list[Task]) -> dict[str, int | None]:
    """What memory knows of each task: its best verified cycles (None: unsolved)."""
    return {t.key: (b.cycles if (b := store.best(t.key)) else None) for t in tasks}


def worth_retrying(store: ExperienceStore, tasks: list[Task]) -> list[Task]:
    """Unsolved tasks, and solved ones whose best is not faster than their baseline (or
    whose baseline is unknown, so no one can say it is)."""
    chosen = []
    for task in tasks:
        best = store.best(task.key)
        if best is None or best.speedup is None or best.speedup <= 1.0:
            chosen.append(task)
    return chosen


def plan_round(
    number: int,
    record: dict[str, Any],
    store: ExperienceStore,
    tasks: list[Task],
) -> dict[str, Any] | None:
    """The next round's plan, or None with `record["stopped"]` saying why there is none.

    `step` counts the rounds since the last one that added something: it picks the
    stratum (hardest first, widening) and the temperature (rising)."""
    previous = record["rounds"][-1] if record["rounds"] else None
    mode = record["mode"]
    step = 0
    if previous is not None and not previous["gained"]:
        step = previous["step"] + 1
    ladders = {d: selection_ladder(store, d, record["groups"]) for d in sorted(_dialects(tasks))}
    widest = max([len(TEMPERATURES)] + [len(ladder) for ladder in ladders.values()]) - 1
    if mode == "adaptive" and step > widest:
        record["stopped"] = "the widest selection at the highest temperature added nothing"
        return None
    retry = worth_retrying(store, tasks)
    if not retry:
        record["stopped"] = "every task is solved and faster than its baseline"
        return None
    if number > record["max_rounds"]:
        record["stopped"] = f"all {record['max_rounds']} rounds done"
        return None
    if mode == "adaptive":
        temperature = TEMPERATURES[min(step, len(TEMPERATURES) - 1)]
        examples = {
            dialect: [a.id for a in ladder[min(step, len(ladder) - 1)]]
            for dialect, ladder in ladders.items()
            if ladder
        }
    else:
        temperature, examples = MODE_TEMPERATURE[mode], {}
    return {
        "round": number,
        "step": step,
        "temperature": temperature,
        "tasks": [t.key for t in retry],
        "examples": examples,
        "known_before": known(store, tasks),
        "status": "planned",
        "planned": time.time(),
    }


def _dialects(tasks: list[Task]) -> set[str]:
    return {t.dialect for t in tasks}


# ---------------------------------------------------------------------- running


def improve(
    tasks: list[Task],
    *,
    model: Model,
    store: ExperienceStore,
    meter: CostMeter,
    verifier: Any,
    record: dict[str, Any],
    options: ImproveOptions,
    on_round: Any = None,
) -> dict[str, Any]:
    """Run rounds until the algorithm stops (module docstring); returns improve.json's
    content. `on_round(record, round)` is told of each round as it starts and ends."""
    out = options.out
    on_round = on_round or (lambda record, round_: None)
    settings = SolveSettings(**record["settings"])
    if record["mode"] == "guardian":
        settings = replace(settings, guardian=True)
    record["stopped"] = None
    while True:
        current = record["rounds"][-1] if record["rounds"] else None
        if current is None or current["status"] == "done":
            plan = plan_round(len(record["rounds"]) + 1, record, store, tasks)
            if plan is None:
                break
            record["rounds"].append(plan)
            _save(out, record)  # the plan first: a resumed round is the same round
            current = plan
        on_round(record, current)
        summary = _run_round(
            current, tasks, model, store, meter, verifier, record, settings, options
        )
        _finish_round(current, summary, store, tasks, record)
        _save(out, record)
        write_results(out, record)
        on_round(record, current)
        if summary.get("stopped"):
            record["stopped"] = f"round {current['round']}: {summary['stopped']}"
            break
    record["finished"] = time.time()
    _save(out, record)
    write_results(out, record)
    return record


def _run_round(
    plan: dict[str, Any],
    tasks: list[Task],
    model: Model,
    store: ExperienceStore,
    meter: CostMeter,
    verifier: Any,
    record: dict[str, Any],
    settings: SolveSettings,
    options: ImproveOptions,
) -> dict[str, Any]:
    """The round's solve run (resumed if it was started); its results' summary."""
    folder = round_folder(options.out, plan["round"])
    wanted = set(plan["tasks"])
    chosen = [t for t in tasks if t.key in wanted]
    examples = {
        dialect: [a for a in (store.get(i) for i in ids) if a is not None and a.verified]
        for dialect, ids in plan["examples"].items()
    }
    view = SelectedExamples(store, examples, pairs=record["mode"] == "adaptive")
    run_options = RunOptions(
        out=folder,
        resume=rf.holds_a_run(folder) is not None,
        jobs=options.jobs,
        sandbox_backend=options.sandbox_backend,
        settings=replace(settings, temperature=plan["temperature"]),
    )
    suite = "+".join(record["suites"])
    run = prepare(folder, chosen, suite=suite, model_spec=record["model"], options=run_options)
    # The improve run's one timing seed: every round times programs on the same input, so
    # cycles compare across rounds.
    run.update(timing_seed=record["timing_seed"], improve=record["run_id"], round=plan["round"])
    rf.write_json(folder / rf.RUN_FILE, run)
    results = run_suite(
        chosen,
        model=model,
        store=view,  # type: ignore[arg-type]
        meter=meter,
        pool=verifier,
        run=run,
        options=run_options,
    )
    for entry in results["tasks"]:
        task = next(t for t in chosen if t.key == entry["task"])
        store.record_baseline(task, entry.get("baseline_cycles"))
    plan["run_id"] = run["run_id"]
    return results["summary"]


def round_folder(out: Path, number: int) -> Path:
    return out / ROUNDS_DIR / str(number)


def _finish_round(
    plan: dict[str, Any],
    summary: dict[str, Any],
    store: ExperienceStore,
    tasks: list[Task],
    record: dict[str, Any],
) -> None:
    """What the round added, into its record (status "done" unless it was cut short)."""
    before = plan["known_before"]
    after = known(store, tasks)
    newly_solved = sorted(k for k, c in after.items() if c is not None and before.get(k) is None)
    faster = sorted(
        k for k, c in after.items() if c is not None and before.get(k) is not None and c < before[k]
    )
    attempts = store.attempts(run_id=plan["run_id"])
    speedups = {}
    for key in record["tasks"]:
        best = store.best(key)
        if best is not None and best.speedup is not None:
            speedups[key] = round(best.speedup, 4)
    solved = sum(1 for c in after.values() if c is not None)
    plan.update(
        status="done" if not summary.get("stopped") else "stopped",
        finished=time.time(),
        solved=solved,
        total=len(tasks),
        pass_rate=round(solved / len(tasks), 4) if tasks else 0.0,
        newly_solved=newly_solved,
        faster=faster,
        gained=bool(newly_solved or faster),
        new_experiences=_new_programs(store, attempts),
        attempts=len(attempts),
        cost_usd=round(float(summary.get("cost_usd") or 0.0), 6),
        tokens=int(summary.get("tokens") or 0),
        best_speedups=speedups,
        geomean_speedup=_geomean(list(speedups.values())),
    )
    plan["known_after"] = after  # (for a post-mortem; the next plan reads the store)


def _new_programs(store: ExperienceStore, attempts: list[Attempt]) -> int:
    """Verified programs this round added to memory: distinct per task, and not verified
    for that task before the round (a re-verified or re-found program teaches nothing new)."""
    first = min((a.id for a in attempts), default=0)
    new: set[tuple[str, str]] = set()
    for key in {a.task_key for a in attempts}:
        earlier = {a.program for a in store.attempts(task_key=key) if a.verified and a.id < first}
        new |= {(key, a.program) for a in attempts if a.task_key == key and a.verified} - {
            (key, p) for p in earlier
        }
    return len(new)


def _geomean(values: list[float]) -> float | None:
    values = [v for v in values if v > 0]
    if not values:
        return None
    return round(math.exp(sum(math.log(v) for v in values) / len(values)), 4)


def spent(record: dict[str, Any], out: Path) -> float:
    """What the run has spent: its finished rounds, and the round in progress so far."""
    total = sum(r.get("cost_usd", 0.0) for r in record["rounds"] if r["status"] != "planned")
    current = record["rounds"][-1] if record["rounds"] else None
    if current is not None and current["status"] == "planned":
        path = round_folder(out, current["round"]) / rf.RESULTS_FILE
        try:
            total += float(rf.read_results(path)["summary"].get("cost_usd") or 0.0)
        except (rf.DamagedFile, OSError, TypeError, ValueError):
            pass
    return total


# ---------------------------------------------------------------------- results.json


def write_results(out: Path, record: dict[str, Any]) -> dict[str, Any]:
    """OUT/results.json: each task's best entry over the rounds (paths point into the
    round's folder), the summary over them, and the rounds' records."""
    entries = {key: rs.not_run_entry(key) for key in record["tasks"]}
    for plan in record["rounds"]:
        path = round_folder(out, plan["round"]) / rf.RESULTS_FILE
        if not path.exists():
            continue
        try:
            results = rf.read_results(path)
        except rf.DamagedFile:
            log.warning("%s is unreadable: round %s left out of the results", path, plan["round"])
            continue
        for entry in results["tasks"]:
            if entry["task"] not in entries:
                continue
            moved = dict(entry, round=plan["round"])
            for field in ("program", "detail"):
                if moved.get(field):
                    moved[field] = f"{ROUNDS_DIR}/{plan['round']}/{moved[field]}"
            entries[entry["task"]] = rs.merge_entry(entries[entry["task"]], moved)
    listed = list(entries.values())
    summary = rs.summary(
        listed,
        tokens=sum(r.get("tokens", 0) for r in record["rounds"]),
        cost_usd=sum(r.get("cost_usd", 0.0) for r in record["rounds"]),
        stopped=record.get("stopped"),
    )
    summary["rounds"] = sum(1 for r in record["rounds"] if r["status"] != "planned")
    run = {k: record[k] for k in ("run_id", "suites", "model", "mode", "started") if k in record}
    run["suite"] = "+".join(record["suites"])
    results = {"run": run, "tasks": listed, "summary": summary, "rounds": record["rounds"]}
    rf.write_json(out / rf.RESULTS_FILE, results)
    return results
