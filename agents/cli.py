"""The `agent` command line (the contract is DESIGN section 6).

This module must import fast (`agent --help` well under a second): heavy libraries
(numpy, torch, litellm, langgraph) are imported inside the commands that use them.
Errors a user can fix are printed as one line; `--debug` shows the traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="agent",
    help="LLM agents that write, verify, simulate and tune kernels for dataflow accelerators.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]


class UsageError(Exception):
    """A problem with what the user asked for (bad path, unknown name): exit code 2."""


def _console():
    from rich.console import Console

    return Console()


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False) -> None:
    if debug:
        os.environ["AGENT_DEBUG"] = "1"


@app.command()
def tasks(
    suite: Annotated[str, typer.Argument(help="Suite folder or name (benchmarks/step, sam, ...)")],
    json_out: JsonFlag = False,
) -> None:
    """List a suite's tasks."""
    from benchmarks.task import load_suite

    loaded = load_suite(suite)
    if json_out:
        rows = [
            {
                "task": t.key,
                "name": t.name,
                "dialect": t.dialect,
                "target": t.target,
                "inputs": [i.name for i in t.inputs],
                "outputs": [o.name for o in t.outputs],
                "description": t.description.strip().splitlines()[0],
            }
            for t in loaded
        ]
        print(json.dumps(rows, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{len(loaded)} tasks")
    for column in ("task", "inputs", "outputs", "description"):
        table.add_column(column)
    for t in loaded:
        table.add_row(
            t.key,
            ", ".join(i.name for i in t.inputs),
            ", ".join(o.name for o in t.outputs),
            escape(t.description.strip().splitlines()[0][:70]),
        )
    _console().print(table)


@app.command("eval")
def eval_(
    task: Annotated[str, typer.Argument(help="Task file or suite/name")],
    program: Annotated[Path, typer.Argument(help="Program file (Python in the task's dialect)")],
    json_out: JsonFlag = False,
    sandbox: Annotated[
        str | None, typer.Option(help="Sandbox backend: bubblewrap, docker, plain")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Fix the input seed (default: fresh)")] = None,
) -> None:
    """Verify and simulate one program on one task."""
    from benchmarks.task import load_task

    loaded = load_task(task)
    if not program.is_file():
        raise UsageError(f"no program file {program}")
    source = program.read_text(errors="replace")
    if sandbox is not None:
        from sandbox import select_backend

        select_backend(sandbox)  # an unknown backend is a usage error, not a verdict
    from interpreter.verifier import verify

    verdict = verify(loaded, source, sandbox_backend=sandbox, seed=seed)
    if json_out:
        print(json.dumps(verdict.to_json(timeline_limit=0)))
        return
    colour = "green" if verdict.correct else "red"
    console = _console()
    console.print(
        f"[bold {colour}]{verdict.status}[/] {loaded.key}"
        + (f"  {verdict.cycles} cycles" if verdict.cycles is not None else "")
    )
    console.print(verdict.feedback, markup=False)


@app.command()
def doctor() -> None:
    """Say which sandbox backend is active and why, and which suites and targets exist."""
    from benchmarks.task import SUITES_DIR
    from interpreter.targets import available
    from sandbox import select_backend
    from sandbox.backends import BACKENDS

    backend, why = select_backend(None)
    console = _console()
    console.print(f"sandbox: [bold]{backend.name}[/] ({why})")
    for name, candidate in BACKENDS.items():
        reason = candidate.unavailable()
        console.print(
            f"  {name}: " + ("available" if reason is None else f"unavailable ({reason})"),
            markup=False,
        )
    suites = sorted(p.name for p in SUITES_DIR.iterdir() if p.is_dir() and any(p.glob("*.toml")))
    console.print(f"suites: {', '.join(suites) or 'none'}")
    console.print(f"targets: {', '.join(available()) or 'none'}")


# ---------------------------------------------------------------- solve, report, memory
# (bodies in agents.solve_cli, imported when the command runs)


@contextlib.contextmanager
def _command_errors():
    """solve_cli's CommandError is a usage error. (solve_cli cannot raise this module's
    UsageError itself: under `python -m agents.cli` this module is `__main__`.)"""
    from agents.solve_cli import CommandError

    try:
        yield
    except CommandError as exc:
        raise UsageError(str(exc)) from None


@app.command()
def solve(
    suite: Annotated[str, typer.Argument(help="Suite folder or name (benchmarks/step, sam, ...)")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Model: builtin, scripted:<file>, queue:<dir> or a litellm string (default: $AGENT_MODEL, .agent.toml, builtin)",
        ),
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(
            help="Programs proposed per task, in parallel (default 4; 1 for the deterministic builtin model)"
        ),
    ] = None,
    tasks_glob: Annotated[
        str | None,
        typer.Option("--tasks", help="Only tasks whose name or suite/name matches this glob"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run folder (default runs/<suite>-<time>)")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out (with its own settings)")
    ] = False,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", help="Stop cleanly after spending this many USD")
    ] = None,
    repair_rounds: Annotated[
        int, typer.Option(help="Repair rounds at most, fed the verifier's feedback")
    ] = 2,
    optimise_rounds: Annotated[
        int, typer.Option(help="Optimise rounds at most, fed the simulator's report")
    ] = 2,
    memory: Annotated[
        Path | None,
        typer.Option(
            "--memory", help="Experience store (default $AGENT_MEMORY, ~/.agent/memory.sqlite)"
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(help="Verification worker processes (default: 1 per spare core, at most 2)"),
    ] = None,
    sandbox: Annotated[
        str | None, typer.Option(help="Sandbox backend: bubblewrap, docker, plain")
    ] = None,
) -> None:
    """Solve a suite's tasks with an agent; writes OUT/results.json."""
    from agents import solve_cli

    with _command_errors():
        solve_cli.solve(
            suite,
            model_flag=model,
            samples=samples,
            tasks_glob=tasks_glob,
            out=out,
            resume=resume,
            max_cost=max_cost,
            repair_rounds=repair_rounds,
            optimise_rounds=optimise_rounds,
            memory=memory,
            jobs=jobs if jobs is not None else solve_cli.default_jobs(),
            sandbox=sandbox,
        )


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="A run folder written by `agent solve --out`")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="HTML file (default FOLDER/report.html)")
    ] = None,
) -> None:
    """Write an HTML report of a solve run (plots inline; reads offline)."""
    from agents import solve_cli

    with _command_errors():
        solve_cli.report(folder, output=output)


@app.command()
def memory(
    action: Annotated[str, typer.Argument(help="stats | show TASK | best")] = "stats",
    task: Annotated[str | None, typer.Argument(help="For show: the task (dialect/name)")] = None,
    path: Annotated[
        Path | None,
        typer.Option(
            "--memory", help="Experience store (default $AGENT_MEMORY, ~/.agent/memory.sqlite)"
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="For show: the last N attempts")] = 20,
    json_out: JsonFlag = False,
) -> None:
    """Inspect the experience store: stats, one task's attempts, best programs."""
    from agents import solve_cli

    with _command_errors():
        solve_cli.memory(action, task, path=path, json_out=json_out, limit=limit)


def _known_errors() -> tuple[type[BaseException], ...]:
    """Error classes that mean 'bad input' and get one line instead of a traceback."""
    from benchmarks.generators import GeneratorError
    from benchmarks.task import TaskError
    from dsl.errors import DialectError
    from interpreter.targets import TargetError

    errors: list[type[BaseException]] = [
        UsageError,
        TaskError,
        TargetError,
        DialectError,
        GeneratorError,
    ]
    try:
        from sandbox import SandboxConfigError

        errors.append(SandboxConfigError)
    except ImportError:
        pass
    return tuple(errors)


def main() -> None:
    try:
        app()
    except SystemExit:
        raise
    except Exception as exc:  # one line for what the user can fix; traceback with --debug
        if os.environ.get("AGENT_DEBUG") or not isinstance(exc, _known_errors()):
            if os.environ.get("AGENT_DEBUG"):
                raise
            print(
                f"agent: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
                file=sys.stderr,
            )
            sys.exit(3)
        print(f"agent: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
