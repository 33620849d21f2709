"""The `agent` command line (the contract is DESIGN section 6).

This module must import fast (`agent --help` well under a second): heavy libraries
(numpy, torch, litellm, langgraph) are imported inside the commands that use them.
Errors a user can fix are printed as one line; `--debug` shows the traceback.
"""

from __future__ import annotations

import contextlib
import errno
import functools
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
# How long `agent eval` waits for its baseline's cycles once the program is verified (the
# baseline's own verification has the verifier's 60 s budget); past it: no speedup.
BASELINE_WAIT_S = 90.0


class UsageError(Exception):
    """A problem with what the user asked for (bad path, unknown name): exit code 2."""


class SetupError(Exception):
    """The set-up failed, not the request (a full disk, a damaged store, a verification
    worker that keeps dying): exit code 1; a run stopped by it continues with --resume."""


def _console():
    from rich.console import Console

    return Console()


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"agent {version('dataflow-kernel-agents')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            print("agent (not installed: run scripts/setup.sh)")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_print_version),
    ] = False,
) -> None:
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
                "description": t.description.strip(),
            }
            for t in loaded
        ]
        print(json.dumps(rows, indent=2))
        return
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    # Names are what users type back, so they are never shortened: the description column
    # (first line only; `--json` has it all) is the one that wraps to the terminal's width.
    table = Table(title=f"{len(loaded)} tasks", box=box.SIMPLE_HEAD)
    table.add_column("task", no_wrap=True, min_width=max(len(t.key) for t in loaded))
    table.add_column("inputs -> outputs", ratio=1)
    table.add_column("description", ratio=2, overflow="fold")
    for t in loaded:
        table.add_row(
            t.key,
            ", ".join(i.name for i in t.inputs) + " -> " + ", ".join(o.name for o in t.outputs),
            escape(t.description.strip().splitlines()[0]),
        )
    _console().print(table)


def _stop_eval_server(value: bool) -> None:
    if value:
        from agents import eval_server

        print("eval server stopped" if eval_server.stop() else "no eval server running")
        raise typer.Exit()


@app.command("eval")
def eval_(
    task: Annotated[str, typer.Argument(help="Task file or suite/name")],
    program: Annotated[Path, typer.Argument(help="Program file (Python in the task's dialect)")],
    json_out: JsonFlag = False,
    sandbox: Annotated[
        str | None, typer.Option(help="Sandbox backend: bubblewrap, docker, plain")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Replay: run every check on this input seed (a verdict's `seed`)"),
    ] = None,
    no_server: Annotated[
        bool,
        typer.Option(
            "--no-server",
            help="Evaluate in this process; use and start no warm eval server (as"
            " AGENT_EVAL_SERVER=0)",
        ),
    ] = False,
    stop_server: Annotated[
        bool,
        typer.Option(
            "--stop-server",
            help="Stop this checkout's warm eval server and exit",
            is_eager=True,
            callback=_stop_eval_server,
        ),
    ] = False,
) -> None:
    """Verify and simulate one program on one task, and time its baseline on the same input.

    Exit code: 0 when the verdict is passed, 1 for any other verdict, 2 for bad usage. The
    first call starts a warm server in the background that later calls run on (well under a
    second instead of seconds); it exits after 15 idle minutes ($AGENT_EVAL_SERVER_IDLE s).
    """
    from benchmarks.task import load_task, warn_repeated_inputs

    loaded = load_task(task)
    warn_repeated_inputs(loaded)
    if not program.is_file():
        raise UsageError(f"no program file {program}")
    try:
        source = program.read_text(errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read program {program}: {exc.strerror}") from None
    if sandbox is not None:
        from sandbox import select_backend

        select_backend(sandbox)  # an unknown backend is a usage error, not a verdict
    import secrets

    from agents import eval_server
    from interpreter.verifier import BackgroundBaseline, baseline_cycles, verify

    # A fresh secret timed input per evaluation (the replayed seed under --seed); the
    # baseline is timed on the same one, so the speedup compares like with like. In a warm
    # eval server with a core idle, the baseline's build starts first, on that core, and
    # once the program's outputs on the timed input are correct, a child times the baseline
    # and another simulates that input, on that core, while the other checks run (both
    # share what the server and that first check loaded).
    # Otherwise the baseline is timed afterwards and the simulation runs in-process: a cold
    # process would load it all twice (2-3 s more CPU), and on busy cores a child's system
    # time costs more than it saves (see eval_server.core_idle).
    timing_seed = secrets.randbits(32) if seed is None else seed
    aside = eval_server.warmed and eval_server.core_idle()
    timing = None
    if loaded.baseline is not None and aside:
        timing = BackgroundBaseline(loaded, timing_seed=timing_seed, sandbox_backend=sandbox)
    try:
        if timing is not None:  # its sandbox traces on the other core meanwhile
            timing.submit()
        verdict = verify(
            loaded,
            source,
            sandbox_backend=sandbox,
            seed=seed,
            timing_seed=timing_seed,
            filename=program.name,
            after_timed=None if timing is None else timing.start,
            simulate_aside=aside,
            last_build=timing is not None,
        )
        baseline = None
        if verdict.correct and timing is not None:
            baseline = timing.cycles(timeout_s=BASELINE_WAIT_S)
        elif verdict.correct and loaded.baseline is not None:  # no spare sandbox behind it
            baseline = baseline_cycles(
                loaded, timing_seed=timing_seed, sandbox_backend=sandbox, last_build=True
            )
    finally:
        if timing is not None:
            timing.cancel()
    speedup = round(baseline / verdict.cycles, 4) if baseline and verdict.cycles else None
    exit_code = 0 if verdict.status == "passed" else 1
    if json_out:
        data = verdict.to_json(timeline_limit=0) | {"baseline_cycles": baseline, "speedup": speedup}
        print(json.dumps(data))
        raise typer.Exit(exit_code)
    colour = "green" if verdict.correct else "red"
    console = _console()
    console.print(
        f"[bold {colour}]{verdict.status}[/] {loaded.key}"
        + (f"  {verdict.cycles} cycles" if verdict.cycles is not None else "")
        + (f"  baseline {baseline} cycles, speedup {speedup:g}x" if speedup else "")
        + ("  speedup — (no baseline)" if verdict.correct and loaded.baseline is None else "")
    )
    console.print(verdict.feedback, markup=False)
    if verdict.resources:
        from interpreter.budget import describe_use
        from interpreter.targets import load_target

        use = describe_use(load_target(loaded.target), verdict.resources)
        console.print(f"used on {loaded.target}: {use}", markup=False, highlight=False)
    if not verdict.correct and verdict.seed is not None:
        dims = ", ".join(f"{k}={v}" for k, v in (verdict.dims or {}).items())
        console.print(
            f"failed on seed {verdict.seed} ({dims or 'static shapes'}); replay with"
            f" --seed {verdict.seed}",
            markup=False,
        )
    raise typer.Exit(exit_code)


@app.command()
def tune(
    task: Annotated[str, typer.Argument(help="Task file or suite/name")],
    program: Annotated[Path, typer.Argument(help="Program file declaring @<dialect>.tunable")],
    budget: Annotated[int, typer.Option(help="Evaluations (each a full verify)")] = 20,
    seed: Annotated[int, typer.Option(help="Tuner seed (same seed, same run)")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Run folder (default runs/tune-<task>-<time>)")
    ] = None,
    sandbox: Annotated[
        str | None, typer.Option(help="Sandbox backend: bubblewrap, docker, plain")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Tune a program's declared parameters (BaCO) on the simulator; print the best."""
    from agents.tune_cli import tune as run_tune
    from agents.tuning import TuneError

    try:
        run_tune(
            task, program, budget=budget, seed=seed, out=out, sandbox=sandbox, json_out=json_out
        )
    except TuneError as exc:
        raise UsageError(str(exc)) from None


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
    _doctor_model(console)


# Environment variables litellm reads for the common providers (names only are ever shown).
PROVIDER_KEYS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
    "DEEPSEEK_API_KEY",
    "OPENROUTER_API_KEY",
    "TOGETHERAI_API_KEY",
    "XAI_API_KEY",
    "AZURE_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "OLLAMA_API_BASE",
)


def _doctor_model(console) -> None:
    """The model a run would use and why, where memory lives, which provider keys are set."""
    from agents.models import ModelError, resolve_model_spec
    from agents.workflows.run import memory_path

    try:
        spec, source = resolve_model_spec(None)
        console.print(f"model: {spec} (from {source})", markup=False, highlight=False)
    except ModelError as exc:
        console.print(f"model: cannot be chosen: {exc}", markup=False, highlight=False)
    store = memory_path(None)
    state = "exists" if store.is_file() else "not created yet; the first solve run creates it"
    console.print(f"memory: {store} ({state})", markup=False, highlight=False)
    keys = [name for name in PROVIDER_KEYS if os.environ.get(name)]
    console.print(
        f"provider keys set: {', '.join(keys) or 'none (only builtin, scripted and queue models work)'}",
        markup=False,
        highlight=False,
    )


# ---------------------------------------------------------------- solve, report, memory
# (bodies in agents.solve_cli, imported when the command runs)


@contextlib.contextmanager
def _command_errors():
    """solve_cli's CommandError is a usage error, its SetupFault a set-up error. (solve_cli
    cannot raise this module's errors itself: under `python -m agents.cli` this module is
    `__main__`.)"""
    from agents.solve_cli import CommandError, SetupFault

    try:
        yield
    except CommandError as exc:
        raise UsageError(str(exc)) from None
    except SetupFault as exc:
        raise SetupError(str(exc)) from None
    except OSError as exc:  # unwritable --out or --output, a store on a read-only disk, ...
        if exc.filename is None or exc.errno == errno.ENOSPC:
            raise  # a full disk is the set-up's fault: main says so
        raise UsageError(f"cannot use {exc.filename}: {exc.strerror or exc}") from None


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
        bool,
        typer.Option(
            "--resume",
            help="Continue the run in --out with its own model, memory, budget, rounds and"
            " guardian (options given now override them)",
        ),
    ] = False,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", help="Stop cleanly after spending this many USD")
    ] = None,
    repair_rounds: Annotated[
        int | None,
        typer.Option(help="Repair rounds at most, fed the verifier's feedback (default 2)"),
    ] = None,
    optimise_rounds: Annotated[
        int | None,
        typer.Option(help="Optimise rounds at most, fed the simulator's report (default 2)"),
    ] = None,
    tune_budget: Annotated[
        int | None,
        typer.Option(
            help="Then tune the best program's declared parameters with this many"
            " evaluations, and record the tuned program (default 0: off)"
        ),
    ] = None,
    guardian: Annotated[
        bool | None,
        typer.Option(
            "--guardian/--no-guardian",
            help="Have a second call fix a proposal that does not validate (default off, for"
            " speed: a proposal that validates never costs the second call)",
        ),
    ] = None,
    memory: Annotated[
        Path | None,
        typer.Option(
            "--memory",
            help="Experience store (default $AGENT_MEMORY, else ~/.agent/memory.sqlite);"
            " 'none' for no store at all (clean model benchmarks: nothing recalled or kept)",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            help="Tasks solved at once (default: 4 for a network model, 1 for builtin,"
            " scripted and queue); checks use one worker process per spare core"
        ),
    ] = None,
    sandbox: Annotated[
        str | None, typer.Option(help="Sandbox backend: bubblewrap, docker, plain")
    ] = None,
    executor: Annotated[
        str,
        typer.Option(
            help="Where model calls and checks run: local (this machine) or ray (Ray tasks;"
            " needs the [ray] extra)"
        ),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="With --executor ray: the cluster to join (e.g. auto, ray://host:10001);"
            " default: start a local one"
        ),
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
            tune_budget=tune_budget,
            guardian=guardian,
            memory=memory,
            jobs=jobs,
            sandbox=sandbox,
            executor=executor,
            address=address,
        )


@app.command()
def improve(
    suites: Annotated[
        list[str], typer.Argument(help="Suite folders or names (benchmarks/step, sam, ...)")
    ],
    rounds: Annotated[
        int | None, typer.Option(help="Rounds at most (default 3; a resumed run: its own)")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Model: builtin, scripted:<file>, queue:<dir> or a litellm string (default: $AGENT_MODEL, .agent.toml, builtin)",
        ),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help="adaptive (hard-earned examples, widening; default), single (proposer alone"
            " at temperature 1.0) or guardian (proposer + guardian at 0.5): the seed's modes"
        ),
    ] = None,
    executor: Annotated[
        str, typer.Option(help="Where model calls and checks run: local or ray")
    ] = "local",
    address: Annotated[
        str | None, typer.Option(help="--executor ray: the cluster (default: a local one)")
    ] = None,
    jobs: Annotated[int, typer.Option(help="Tasks at once, and verification workers")] = 1,
    max_cost: Annotated[
        float | None,
        typer.Option("--max-cost", help="Stop cleanly after spending this many USD (all rounds)"),
    ] = None,
    memory: Annotated[
        Path | None,
        typer.Option(
            "--memory",
            help="Experience store to learn from and feed (default $AGENT_MEMORY, else"
            " ~/.agent/memory.sqlite)",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Run folder (default runs/improve-<suites>-<date>: a rerun resumes)"),
    ] = None,
    samples: Annotated[int | None, typer.Option(help="Programs proposed per task")] = None,
    repair_rounds: Annotated[
        int | None, typer.Option(help="Repair rounds per task and round (default 2)")
    ] = None,
    optimise_rounds: Annotated[
        int | None, typer.Option(help="Optimise rounds per task and round (default 2)")
    ] = None,
    groups: Annotated[int, typer.Option(help="Strata of solved tasks (hard to easy)")] = 3,
    tasks_glob: Annotated[
        str | None,
        typer.Option("--tasks", help="Only tasks whose name or suite/name matches this glob"),
    ] = None,
    sandbox: Annotated[
        str | None, typer.Option(help="Sandbox backend: bubblewrap, docker, plain")
    ] = None,
) -> None:
    """Self-improve over suites in rounds (the seed paper's adaptive algorithm); see
    docs/improve.md. Run the same command again to continue a stopped or killed run."""
    from agents.workflows import improve_cli

    with _command_errors():
        improve_cli.improve(
            suites,
            model_flag=model,
            rounds=rounds,
            mode=mode,
            executor=executor,
            address=address,
            jobs=jobs,
            max_cost=max_cost,
            memory=memory,
            out=out,
            samples=samples,
            repair_rounds=repair_rounds,
            optimise_rounds=optimise_rounds,
            groups=groups,
            tasks_glob=tasks_glob,
            sandbox=sandbox,
        )


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="A run folder written by `agent solve --out`")],
    other: Annotated[
        Path | None,
        typer.Argument(help="A second run folder: compare the two runs task by task"),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="HTML file (default FOLDER/report.html; with two runs OTHER/compare.html)",
        ),
    ] = None,
) -> None:
    """Write an HTML report of a solve run, or compare two (plots inline; reads offline)."""
    from agents import solve_cli

    with _command_errors():
        solve_cli.report(folder, output=output, other=other)


@app.command()
def mcp(
    memory: Annotated[
        Path | None,
        typer.Option(
            "--memory",
            help="Experience store for recall (default $AGENT_MEMORY, else ~/.agent/memory.sqlite)",
        ),
    ] = None,
    sandbox: Annotated[
        str | None, typer.Option(help="Sandbox backend: bubblewrap, docker, plain")
    ] = None,
) -> None:
    """Serve the tools to a coding agent over the Model Context Protocol (stdio); see
    docs/mcp.md."""
    if sandbox is not None:
        from sandbox import select_backend

        select_backend(sandbox)  # an unknown backend is a usage error before serving
    try:  # the SDK is imported here only: `agent --help` stays fast
        from agents.mcp_server import serve
    except ImportError as exc:
        raise SetupError(
            f"agent mcp needs the mcp package ({exc}): pip install 'mcp>=2.3'"
        ) from None
    serve(memory=memory, sandbox=sandbox)


@app.command()
def chat(
    model: Annotated[
        str | None,
        typer.Option(help="Model (as for solve); none configured: slash commands only"),
    ] = None,
    task: Annotated[str | None, typer.Option(help="Task: suite/name or a task file")] = None,
    reference: Annotated[
        str | None,
        typer.Option(help="Your own PyTorch function as the task: FILE.py:FUNCTION"),
    ] = None,
    shapes: Annotated[
        str | None, typer.Option(help="With --reference: input shapes, e.g. a=64x128,b=128x64")
    ] = None,
    dialect: Annotated[str, typer.Option(help="With --reference: step, sam or dae")] = "step",
    resume: Annotated[str | None, typer.Option(help="Continue the session with this id")] = None,
    list_only: Annotated[bool, typer.Option("--list", help="List saved sessions")] = False,
    memory: Annotated[
        Path | None,
        typer.Option("--memory", help="Experience store (sessions are kept beside it)"),
    ] = None,
    sandbox: Annotated[
        str | None, typer.Option(help="Sandbox backend: bubblewrap, docker, plain")
    ] = None,
) -> None:
    """Write a kernel together with a tool-using agent in the terminal; see docs/chat.md."""
    from agents.chat.cli import ChatUsageError
    from agents.chat.cli import main as chat_main

    try:
        chat_main(
            model=model,
            task=task,
            reference=reference,
            shapes=shapes,
            dialect=dialect,
            resume=resume,
            list_only=list_only,
            memory=memory,
            sandbox=sandbox,
        )
    except ChatUsageError as exc:
        raise UsageError(str(exc)) from None


@app.command()
def memory(
    action: Annotated[
        str,
        typer.Argument(help="stats | ls | show TASK | best | export FILE | import FILE | prune"),
    ] = "stats",
    task: Annotated[
        str | None,
        typer.Argument(help="For show: the task (dialect/name); for export and import: the file"),
    ] = None,
    path: Annotated[
        Path | None,
        typer.Option(
            "--memory", help="Experience store (default $AGENT_MEMORY, ~/.agent/memory.sqlite)"
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="For show: the last N attempts")] = 20,
    older_than: Annotated[
        float, typer.Option(help="For prune: failed attempts older than this many days")
    ] = 30.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="For prune: count, remove nothing")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Inspect the experience store: stats, tasks (ls), one task's attempts, best programs;
    export what is readable (of a damaged store too) to a file, import such a file; prune
    old failed attempts (never a verified program, nor a failure something descends from)."""
    from agents import solve_cli

    if action in ("export", "import"):
        _memory_transfer(action, task, path)
        return
    if action in ("ls", "prune"):
        from agents.workflows import improve_cli

        with _command_errors():
            improve_cli.memory(
                action, path, older_than=older_than, dry_run=dry_run, json_out=json_out
            )
        return
    with _command_errors():
        solve_cli.memory(action, task, path=path, json_out=json_out, limit=limit)


def _memory_transfer(action: str, file: str | None, path: Path | None) -> None:
    from agents.workflows.run import memory_path
    from memory.store import ExperienceStore
    from memory.transfer import export_store, import_records

    if not file:
        raise UsageError(f"agent memory {action} needs a FILE (JSON Lines)")
    store = memory_path(path)
    if action == "export":
        done = export_store(store, Path(file))
        skipped = done.damaged_stretches
        print(
            f"exported {done.tasks} tasks and {done.attempts} attempts of {store} to {file}"
            + (f" ({skipped} damaged stretches could not be read)" if skipped else "")
        )
        return
    if not Path(file).is_file():
        raise UsageError(f"no export file {file}")
    done = import_records(Path(file), ExperienceStore(store))
    print(
        f"imported {done.attempts} attempts into {store} ({done.duplicates} already there,"
        f" {done.unusable} unusable)"
    )


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


def _setup_fault(exc: BaseException) -> str | None:
    """One line for a fault of the set-up that reached the top, else None."""
    if isinstance(exc, SetupError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = f" writing {exc.filename}" if exc.filename else ""
        return f"disk full{where}: free some space and run the command again"
    from memory.store import StoreError

    if isinstance(exc, StoreError):
        return str(exc)
    return None


@functools.cache
def command() -> typer.core.TyperGroup:
    """The click command typer makes of `app` (what `app()` builds on every call, ~0.1 s):
    built once, so that a warm eval server's children reuse the server's."""
    return typer.main.get_command(app)


def warm_eval_command() -> None:
    """Build `command()` and the parsers of `agent eval`'s parameters now (typer builds a
    parser on a parameter's first use, ~0.05 s for eval's), for a warm eval server: its
    children inherit them."""
    for param in command().commands["eval"].params:
        param.get_runtime_param()


def main() -> None:
    """Run the CLI in this process. Exit codes: 0 done, 1 a set-up fault (or `eval`: a verdict
    other than passed), 2 bad usage, 3 an internal error; each failure is one line on stderr.
    (The `agent` command enters through agents.launch, which may hand `eval` to a warm
    server that runs this in a forked child.)"""
    try:
        command()()
    except SystemExit:
        raise
    except Exception as exc:  # one line for what the user can fix; traceback with --debug
        if os.environ.get("AGENT_DEBUG"):
            raise
        setup = _setup_fault(exc)
        if setup is not None:
            print(f"agent: {setup}", file=sys.stderr)
            sys.exit(1)
        if not isinstance(exc, _known_errors()):
            print(
                f"agent: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
                file=sys.stderr,
            )
            sys.exit(3)
        print(f"agent: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
