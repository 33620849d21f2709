"""The `agent` command line (the contract is DESIGN section 6).

This module must import fast (`agent --help` well under a second): heavy libraries
(numpy, torch, litellm, langgraph) are imported inside the commands that use them.
Errors a user can fix are printed as one line; `--debug` shows the traceback.
"""

from __future__ import annotations

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
def tasks(suite: Annotated[str, typer.Argument(help="Suite folder or name (benchmarks/step, sam, ...)")],
          json_out: JsonFlag = False) -> None:
    """List a suite's tasks."""
    from benchmarks.task import load_suite

    loaded = load_suite(suite)
    if json_out:
        rows = [{"task": t.key, "name": t.name, "dialect": t.dialect, "target": t.target,
                 "inputs": [i.name for i in t.inputs], "outputs": [o.name for o in t.outputs],
                 "description": t.description.strip().splitlines()[0]} for t in loaded]
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"{len(loaded)} tasks")
    for column in ("task", "inputs", "outputs", "description"):
        table.add_column(column)
    for t in loaded:
        table.add_row(t.key, ", ".join(i.name for i in t.inputs), ", ".join(o.name for o in t.outputs),
                      t.description.strip().splitlines()[0][:70])
    _console().print(table)


@app.command("eval")
def eval_(task: Annotated[str, typer.Argument(help="Task file or suite/name")],
          program: Annotated[Path, typer.Argument(help="Program file (Python in the task's dialect)")],
          json_out: JsonFlag = False,
          sandbox: Annotated[str | None, typer.Option(help="Sandbox backend: bubblewrap, docker, plain")] = None,
          seed: Annotated[int | None, typer.Option(help="Fix the input seed (default: fresh)")] = None) -> None:
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
    console.print(f"[bold {colour}]{verdict.status}[/] {loaded.key}"
                  + (f"  {verdict.cycles} cycles" if verdict.cycles is not None else ""))
    console.print(verdict.feedback, markup=False)


@app.command()
def doctor() -> None:
    """Say which sandbox backend is active and why, and which suites and targets exist."""
    from benchmarks.task import SUITES_DIR
    from interpreter.targets import available
    from sandbox import select_backend

    backend, why = select_backend(None)
    console = _console()
    console.print(f"sandbox: [bold]{backend.name}[/] ({why})")
    suites = sorted(p.name for p in SUITES_DIR.iterdir() if p.is_dir() and any(p.glob("*.toml")))
    console.print(f"suites: {', '.join(suites) or 'none'}")
    console.print(f"targets: {', '.join(available()) or 'none'}")


def _known_errors() -> tuple[type[BaseException], ...]:
    """Error classes that mean 'bad input' and get one line instead of a traceback."""
    from benchmarks.generators import GeneratorError
    from benchmarks.task import TaskError
    from dsl.errors import DialectError
    from interpreter.targets import TargetError

    errors: list[type[BaseException]] = [UsageError, TaskError, TargetError, DialectError,
                                         GeneratorError]
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
            print(f"agent: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
                  file=sys.stderr)
            sys.exit(3)
        print(f"agent: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
