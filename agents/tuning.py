"""Tuning a program's declared parameters with the BaCO tuner (`agent tune`, the MCP `tune`
tool and `agent solve --tune-budget`).

A program declares its knobs with ``@<dialect>.tunable(...)``; the sandbox returns the
declaration in the IR (``dsl.core.params``). Here it becomes a ``tuner.Space`` whose first
point is the program's own values, and every configuration the tuner asks for is one real
evaluation: the same program text built in the sandbox with those values and checked by the
verifier on one secret timed input (shared by the whole run, so cycles compare). A verdict
other than ``passed`` (over budget, deadlock, timeout, wrong results) is an unknown-constraint
violation the feasibility classifier learns from.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsl.core.params import IR_KEY, declaration_from_json
from dsl.errors import ProgramError
from tuner.errors import TunerError
from tuner.params import Categorical, Integer, Ordinal, Permutation, Real
from tuner.space import Config, Space

log = logging.getLogger(__name__)

PARAMETERS = {
    "integer": lambda n, f: Integer(n, f["low"], f["high"], log=f["log"]),
    "real": lambda n, f: Real(n, float(f["low"]), float(f["high"]), log=f["log"]),
    "ordinal": lambda n, f: Ordinal(n, tuple(f["values"]), log=f["log"]),
    "categorical": lambda n, f: Categorical(n, tuple(f["values"])),
    "permutation": lambda n, f: Permutation(n, len(f["items"]), items=tuple(f["items"])),
}


class TuneError(Exception):
    """The program cannot be tuned as asked (no declared parameters, it does not build, a bad
    domain or constraint); one line naming what is wrong."""


@dataclass
class Knobs:
    """A program's declared parameters as a tuning space, and its own values as the start."""

    space: Space
    start: Config

    @staticmethod
    def of(section: Any) -> Knobs:
        """From an IR's ``tunable`` section; a bad domain or constraint is one line."""
        try:
            declaration, values = declaration_from_json(section)
            params = [PARAMETERS[d.kind](n, d.fields) for n, d in declaration.domains.items()]
            space = Space(params, declaration.constraints)
            start = space.from_json(values)
            space.check(start, "the program's values")
        except (ProgramError, TunerError) as exc:
            raise TuneError(str(exc)) from None
        if not space.feasible(start):
            broken = next(c.text for c in space.constraints if not c(start))
            raise TuneError(f"the program's values {values} break its constraint {broken!r}")
        return Knobs(space, start)

    def params(self, config: Config) -> dict[str, Any]:
        """The kernel's keyword values for ``config``, as JSON (a permutation is a list)."""
        return self.space.to_json(config)


def knobs_of(task: Any, source: str, sandbox: str | None = None) -> Knobs:
    """Build ``source`` in the sandbox and read its declared parameters."""
    from sandbox import build_ir

    built = build_ir(source, dialect=task.dialect, signature=task.signature(), backend=sandbox)
    if built.status != "ok":
        raise TuneError(f"the program does not build: {built.message}")
    section = built.ir.get(IR_KEY) if isinstance(built.ir, dict) else None
    if section is None:
        raise TuneError(
            f"the program declares no tunable parameters: decorate kernel with "
            f"@{task.dialect}.tunable(name=[values], ...) (see the dialect's REFERENCE.md)"
        )
    return Knobs.of(section)


@dataclass
class Trial:
    """One evaluation: the parameters, the verdict's status and cycles (None unless passed)."""

    params: dict[str, Any]
    status: str
    cycles: int | None
    feedback: str = ""


@dataclass
class TuneRun:
    """What a tuning run found; ``trials`` in evaluation order, the first is the program's own
    values."""

    task: str
    trials: list[Trial] = field(default_factory=list)
    folder: Path | None = None
    plot: Path | None = None

    @property
    def best(self) -> Trial | None:
        passed = [t for t in self.trials if t.cycles is not None]
        return min(passed, key=lambda t: t.cycles) if passed else None

    @property
    def start(self) -> Trial | None:
        return self.trials[0] if self.trials else None

    @property
    def feasible_rate(self) -> float:
        return sum(t.cycles is not None for t in self.trials) / max(len(self.trials), 1)

    def to_json(self) -> dict[str, Any]:
        best, start = self.best, self.start
        return {
            "task": self.task,
            "evaluations": len(self.trials),
            "feasible_rate": round(self.feasible_rate, 4),
            "start_params": start.params if start else None,
            "start_cycles": start.cycles if start else None,
            "best_params": best.params if best else None,
            "best_cycles": best.cycles if best else None,
            "speedup": round(start.cycles / best.cycles, 4)
            if best and start and start.cycles
            else None,
            "folder": str(self.folder) if self.folder else None,
            "plot": str(self.plot) if self.plot else None,
            "trials": [vars(t) for t in self.trials],
        }


def with_values(source: str, dialect: str, params: dict[str, Any]) -> str:
    """``source`` whose kernel defaults to ``params``: the tuned program as text that runs by
    itself (what memory records), built by re-declaring the values after the kernel."""
    values = ", ".join(f"{k}={_literal(v)}" for k, v in params.items())
    return (
        f"{source.rstrip()}\n\n\n"
        f"# Tuned values (agent tune): the same kernel with these defaults.\n"
        f"kernel = {dialect}.tunable.with_defaults(kernel, {values})\n"
    )


def _literal(value: Any) -> str:
    return repr(tuple(value)) if isinstance(value, list) else repr(value)


Progress = Callable[[int, Trial, TuneRun], None]


def tune_program(
    task: Any,
    source: str,
    *,
    budget: int,
    seed: int = 0,
    folder: Path | None = None,
    sandbox: str | None = None,
    timing_seed: int | None = None,
    progress: Progress | None = None,
) -> TuneRun:
    """Tune ``source``'s declared parameters on ``task`` for ``budget`` evaluations."""
    if budget < 1:
        raise TuneError(f"the tuning budget must be at least 1 evaluation, not {budget}")
    knobs = knobs_of(task, source, sandbox)
    # Heavy (torch) and only needed once the program is known to be tunable.
    from interpreter.verifier import verify
    from tuner.tuner import Tuner

    timing_seed = secrets.randbits(32) if timing_seed is None else timing_seed
    run = TuneRun(task.key, folder=folder)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    tuner = Tuner(
        knobs.space,
        None,
        budget,
        seed,
        None if folder is None else folder / "history.jsonl",
        initial=knobs.start,
    )
    run.trials = [_replayed(knobs, e) for e in tuner.evaluations]
    # A small space is done once every feasible configuration ran: repeats teach nothing.
    everything = knobs.space.count() or budget
    while len(tuner.evaluations) < min(budget, everything):
        config = tuner.ask()
        params = knobs.params(config)
        verdict = verify(
            task, source, params=params, timing_seed=timing_seed, sandbox_backend=sandbox
        )
        passed = verdict.status == "passed" and verdict.cycles
        trial = Trial(params, verdict.status, verdict.cycles if passed else None)
        trial.feedback = "" if passed else verdict.feedback.splitlines()[0][:200]
        tuner.tell(config, float(trial.cycles) if passed else None, bool(passed))
        run.trials.append(trial)
        if progress is not None:
            progress(len(run.trials), trial, run)
    if folder is not None:
        (folder / "tune.json").write_text(json.dumps(run.to_json(), indent=2) + "\n")
        run.plot = convergence_plot(run, folder / "convergence.png")
    return run


def _replayed(knobs: Knobs, evaluation: Any) -> Trial:
    """A trial from a resumed history (its verdict's text is not kept)."""
    value = int(evaluation.value) if evaluation.feasible else None
    return Trial(knobs.params(evaluation.config), "passed" if value else "invalid", value)


def convergence_plot(run: TuneRun, path: Path) -> Path:
    """Cycles of each evaluation and the best so far, as a PNG (matplotlib, imported late)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = list(range(1, len(run.trials) + 1))
    best, so_far = [], None
    for t in run.trials:
        if t.cycles is not None:
            so_far = t.cycles if so_far is None else min(so_far, t.cycles)
        best.append(so_far)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ok = [(x, t.cycles) for x, t in zip(xs, run.trials, strict=True) if t.cycles is not None]
    bad = [x for x, t in zip(xs, run.trials, strict=True) if t.cycles is None]
    if ok:
        ax.scatter(*zip(*ok, strict=True), s=14, label="evaluation", color="tab:blue")
        ax.step(
            xs,
            [b if b is not None else float("nan") for b in best],
            where="post",
            label="best so far",
            color="tab:orange",
        )
    if bad:
        top = max((c for _, c in ok), default=1)
        ax.scatter(bad, [top] * len(bad), marker="x", color="tab:red", label="infeasible")
    ax.set_xlabel("evaluation")
    ax.set_ylabel("cycles")
    ax.set_title(f"tuning {run.task}")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def tune_winner(task: Any, program: str, budget: int, pool: Any) -> str | None:
    """The tuned text of the solve loop's best ``program`` (`agent solve --tune-budget`), or
    None when it declares no parameters or the tuner found nothing faster than its own
    values. Timed on the run's secret input (the pool's), so its cycles compare."""
    try:
        run = tune_program(
            task,
            program,
            budget=budget,
            sandbox=getattr(pool, "sandbox_backend", None),
            timing_seed=getattr(pool, "timing_seed", None),
        )
    except TuneError as exc:
        log.info("not tuning %s: %s", task.key, exc)
        return None
    best, start = run.best, run.start
    if best is None or (
        start is not None and start.cycles is not None and best.cycles >= start.cycles
    ):
        return None
    return with_values(program, task.dialect, best.params)
