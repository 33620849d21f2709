"""The body of `agent tune TASK PROGRAM` (the typer signature is in `agents.cli`).

Prints one line per evaluation (its parameters, verdict and cycles, the best so far and the
feasible rate), then the best parameters and cycles; the run folder keeps the history (a run
resumes from it), `tune.json`, the convergence plot and the tuned program.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from agents.tuning import Trial, TuneError, TuneRun, stamp, tune_program, with_values


def tune(
    task_ref: str,
    program: Path,
    *,
    budget: int,
    seed: int,
    out: Path | None,
    sandbox: str | None,
    json_out: bool,
) -> None:
    """Raises `TuneError` (one line) for a program that cannot be tuned."""
    from benchmarks.task import load_task

    task = load_task(task_ref)
    if not program.is_file():
        raise TuneError(f"no program file {program}")
    source = program.read_text(errors="replace")
    folder = out or Path("runs") / f"tune-{task.name}-{stamp()}"
    console = Console(stderr=json_out)

    def show(number: int, trial: Trial, run: TuneRun) -> None:
        best = run.best
        params = ", ".join(f"{k}={v}" for k, v in trial.params.items())
        outcome = f"{trial.cycles} cycles" if trial.cycles is not None else trial.status
        console.print(
            f"[{number:>3}/{budget}] {params}: {outcome}"
            f" | best {best.cycles if best else '-'}"
            f" | feasible {run.feasible_rate:.0%}",
            markup=False,
            highlight=False,
        )

    run = tune_program(
        task, source, budget=budget, seed=seed, folder=folder, sandbox=sandbox, progress=show
    )
    best = run.best
    if best is not None:
        (folder / "tuned.py").write_text(with_values(source, task.dialect, best.params))
    if json_out:
        print(json.dumps(run.to_json()))
        return
    if best is None:
        console.print(f"no configuration passed in {len(run.trials)} evaluations; see {folder}")
        return
    data = run.to_json()
    speedup = f" ({data['speedup']:g}x over the program's own values)" if data["speedup"] else ""
    console.print(
        f"best: {', '.join(f'{k}={v}' for k, v in best.params.items())}"
        f" -> {best.cycles} cycles{speedup}",
        markup=False,
        highlight=False,
    )
    console.print(f"run folder {folder}: tuned.py, tune.json, convergence.png", markup=False)
