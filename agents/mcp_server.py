"""`agent mcp`: the project's tools for coding agents (Claude Code, Codex, Cursor) over the
Model Context Protocol, stdio transport, on the official `mcp` SDK (2.x: `MCPServer`).

Why a server of its own rather than `agent eval` in a shell: a coding agent reads typed
results (schemas it sees in the tool list) instead of parsing tables, and one server process
keeps one secret timing seed, so the baseline is timed once and every program of the session
is timed on the same input (cycles compare across attempts, as in a solve run).

Trust: programs are untrusted text. They reach `interpreter.verifier.verify`, which builds
their IR in the sandbox; this process only checks and simulates the IR. Tasks are named
`suite/name` inside the project's own suites (never a path): loading a task imports its
suite's reference module, so a client must not be able to point it at another folder.
Everything a client can get wrong is a `ToolError` of one line; the session stays usable.
The tools themselves live in `agents.tools` (shared with `agent chat`); this module is the
protocol around them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError as ProtocolToolError
from pydantic import Field

from agents.tools import (
    DIALECTS,
    MAX_PROGRAM_CHARS,
    TUNE_BUDGET,
    Evaluation,
    Recall,
    Reference,
    Simulation,
    TaskDetail,
    TaskList,
    Toolbox,
    ToolError,
    Tuning,
    reference_entries,
)

__all__ = [
    "MAX_PROGRAM_CHARS",
    "Toolbox",
    "ToolError",
    "build_server",
    "reference_entries",
    "serve",
]

# Inputs are checked by the tools themselves, so a wrong name is a one-line error (the
# SDK's own validation answers in several lines); the schema still lists the choices.
DialectName = Annotated[
    str, Field(description="step, sam or dae", json_schema_extra={"enum": list(DIALECTS)})
]

INSTRUCTIONS = """\
Write kernels for dataflow accelerators in three Python-embedded dialects (step, sam, dae).
Start with list_tasks(suite), then show_task(task) and show_reference(dialect) (or one op).
A program is Python text defining `kernel(...)` with the task's inputs as arguments; it only
builds a graph. eval_program checks it against the PyTorch reference on fresh inputs and
times it on the cycle simulator; simulate adds the per-op figures and a timeline.
recall returns verified programs of similar tasks from the experience store."""


def _answer(call, *args):
    """Our one-line `ToolError` as the SDK's, which the client sees as a tool error."""
    try:
        return call(*args)
    except ToolError as exc:
        raise ProtocolToolError(str(exc)) from None


def build_server(memory: Path | None = None, sandbox: str | None = None) -> MCPServer:
    """The server with its tools; the docstrings below are what a client's model reads."""
    box = Toolbox(memory=memory, sandbox=sandbox)
    server = MCPServer("dataflow-kernels", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool()
    def list_tasks(suite: DialectName) -> TaskList:
        """The tasks of one suite (step, sam or dae): names to pass as `task`."""
        return _answer(box.list_tasks, suite)

    @server.tool()
    def show_task(task: str) -> TaskDetail:
        """One task (suite/name): description, inputs, dims, target, budget, dialect."""
        return _answer(box.show_task, task)

    @server.tool()
    def show_reference(dialect: DialectName, op: str | None = None) -> Reference:
        """A dialect's REFERENCE.md (program form, ops, element functions, cost model), or
        only the entry of one op (e.g. op='map')."""
        return _answer(box.show_reference, dialect, op)

    @server.tool()
    def eval_program(task: str, program_text: str) -> Evaluation:
        """Verify a program (Python source defining kernel) on a task: correctness on fresh
        and held-out inputs, cycles on the simulator, the floor, the speedup over the
        baseline on the same input, feedback, resources used vs the budget, bottleneck."""
        return _answer(box.evaluate, task, program_text, False)

    @server.tool()
    def simulate(task: str, program_text: str) -> Simulation:
        """eval_program plus where the cycles go: per-op busy cycles and utilization, whole-
        program metrics and a timeline of when each op was busy."""
        return _answer(box.evaluate, task, program_text, True)

    @server.tool()
    def tune(task: str, program_text: str, budget: int = TUNE_BUDGET) -> Tuning:
        """Tune the parameters a program declares with @<dialect>.tunable (BaCO tuner, each
        evaluation a full verification on the session's timed input): the start and best
        values with their cycles, and the program with the best values as defaults."""
        return _answer(box.tune, task, program_text, budget)

    @server.tool()
    def recall(task: str | None = None, query: str | None = None, k: int = 3) -> Recall:
        """Verified programs (with their cycles) from the experience store: for a task
        (suite/name) the most similar solved tasks, or for a free-text query the tasks whose
        name or description match it."""
        return _answer(box.recall, task, query, k)

    return server


def serve(memory: Path | None = None, sandbox: str | None = None) -> None:
    """Serve over stdio until the client closes the connection."""
    build_server(memory=memory, sandbox=sandbox).run("stdio")
