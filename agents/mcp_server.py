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
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Annotated, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

MAX_PROGRAM_CHARS = 100_000
"""Longer program text is refused before it reaches the sandbox (real kernels are a few KB)."""
TIMELINE_LIMIT = 64
"""Timeline entries `simulate` returns at most (a client reads them; the total is given)."""
MAX_RECALL = 10
DIALECTS = ("step", "sam", "dae")
Dialect = Literal["step", "sam", "dae"]
# Inputs are checked by the tools themselves, so a wrong name is a one-line error (the
# SDK's own validation answers in several lines); the schema still lists the choices.
DialectName = Annotated[
    str, Field(description="step, sam or dae", json_schema_extra={"enum": list(DIALECTS)})
]
TUNER_MISSING = "The tuner is not available yet: tune parameters by hand and compare with simulate."

INSTRUCTIONS = """\
Write kernels for dataflow accelerators in three Python-embedded dialects (step, sam, dae).
Start with list_tasks(suite), then show_task(task) and show_reference(dialect) (or one op).
A program is Python text defining `kernel(...)` with the task's inputs as arguments; it only
builds a graph. eval_program checks it against the PyTorch reference on fresh inputs and
times it on the cycle simulator; simulate adds the per-op figures and a timeline.
recall returns verified programs of similar tasks from the experience store."""


class TensorInfo(BaseModel):
    name: str
    dtype: str
    shape: list[str | int] = Field(description="Symbolic dims by name, fixed dims as numbers")


class TaskSummary(BaseModel):
    task: str = Field(description="suite/name, what the other tools take")
    dialect: Dialect
    target: str
    inputs: list[str]
    outputs: list[str]
    summary: str = Field(description="The description's first line")


class TaskList(BaseModel):
    suite: str
    tasks: list[TaskSummary]


class TaskDetail(BaseModel):
    task: str
    dialect: Dialect
    target: str = Field(description="The hardware model the program is timed on")
    description: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    dims: dict[str, int | None] = Field(
        description="Fixed dims with their value; None: symbolic (changes between runs)"
    )
    params: dict[str, object] = Field(description="Task parameters the program receives")
    budget: dict[str, float] = Field(
        description="The target's hardware budget (resource -> amount)"
    )
    has_baseline: bool = Field(description="Whether eval_program reports a speedup")


class Reference(BaseModel):
    dialect: Dialect
    op: str | None
    text: str = Field(description="REFERENCE.md, or the entry of one op")
    ops: list[str] = Field(description="The ops that have an entry (names to pass as op)")


class ResourceUse(BaseModel):
    resource: str
    used: float
    budget: float | None = Field(description="The target's amount; None if it states none")


class Evaluation(BaseModel):
    task: str
    status: Literal["passed", "incorrect", "invalid", "error", "timeout", "rejected"]
    correct: bool
    cycles: int | None = Field(description="Simulated cycles on the timed input (passed only)")
    floor_cycles: float | None = Field(description="Roofline floor of the task on the target")
    baseline_cycles: int | None = Field(description="The task's baseline on the same input")
    speedup: float | None = Field(description="baseline_cycles / cycles")
    feedback: str = Field(description="What was wrong, or how fast and why (one paragraph)")
    bottleneck: str
    resources: list[ResourceUse] = Field(description="What the program used vs the budget")
    seed: int | None = Field(description="Input seed of the failing run (for agent eval --seed)")
    dims: dict[str, int] | None = Field(description="Dims of the failing (or timed) run")


class TimelineEntry(BaseModel):
    op: str
    start: int
    end: int


class Simulation(Evaluation):
    metrics: dict[str, float] = Field(description="Whole-program figures (bytes, utilization)")
    per_op: dict[str, dict[str, float]] = Field(description="Per op: busy cycles, utilization")
    timeline: list[TimelineEntry] = Field(description="When each op was busy (first entries)")
    timeline_total: int = Field(description="Timeline entries in all")


class Example(BaseModel):
    task: str
    cycles: int
    program: str
    model: str = Field(description="Who wrote it")
    attempt_id: int


class Recall(BaseModel):
    store: str = Field(description="The experience store searched")
    examples: list[Example] = Field(description="Verified programs only, best match first")


class Toolbox:
    """The tools' behaviour, apart from the protocol (so each is one plain method)."""

    def __init__(self, memory: Path | None = None, sandbox: str | None = None) -> None:
        from memory import default_store_path

        self.memory = memory if memory is not None else default_store_path()
        self.sandbox = sandbox
        # One secret timed input for the session: the baseline is timed once, and every
        # program is compared with it and with the others on the same input.
        self.timing_seed = secrets.randbits(32)

    def list_tasks(self, suite: str) -> TaskList:
        from benchmarks.task import load_suite

        name = _suite_name(suite)
        return TaskList(
            suite=name,
            tasks=[
                TaskSummary(
                    task=t.key,
                    dialect=t.dialect,
                    target=t.target,
                    inputs=[i.name for i in t.inputs],
                    outputs=[o.name for o in t.outputs],
                    summary=t.description.strip().splitlines()[0] if t.description.strip() else "",
                )
                for t in _guarded(load_suite, name)
            ],
        )

    def show_task(self, task: str) -> TaskDetail:
        from interpreter.budget import budget_of
        from interpreter.targets import load_target

        loaded = _task(task)
        return TaskDetail(
            task=loaded.key,
            dialect=loaded.dialect,
            target=loaded.target,
            description=loaded.description.strip(),
            inputs=[_tensor(t) for t in loaded.inputs],
            outputs=[_tensor(t) for t in loaded.outputs],
            dims=dict(loaded.dims),
            params=dict(loaded.params),
            budget=budget_of(_guarded(load_target, loaded.target)),
            has_baseline=loaded.baseline is not None,
        )

    def show_reference(self, dialect: str, op: str | None = None) -> Reference:
        if dialect not in DIALECTS:
            raise ToolError(f"no dialect {dialect!r}; known: {', '.join(DIALECTS)}")
        text = (Path(__file__).parents[1] / "dsl" / dialect / "REFERENCE.md").read_text()
        entries = reference_entries(text)
        if op is None:
            return Reference(dialect=dialect, op=None, text=text, ops=sorted(entries))
        name = op.strip().removeprefix(f"{dialect}.")
        if name not in entries:
            raise ToolError(
                f"no op {op!r} in the {dialect} reference; ops: {', '.join(sorted(entries))}"
            )
        return Reference(dialect=dialect, op=name, text=entries[name], ops=sorted(entries))

    def evaluate(self, task: str, program_text: str, detail: bool) -> Evaluation | Simulation:
        """Verify (sandbox + trusted check + simulation) and time the baseline on the
        session's timed input."""
        from interpreter.budget import budget_of
        from interpreter.targets import load_target
        from interpreter.verifier import baseline_cycles, verify

        loaded = _task(task)
        if len(program_text) > MAX_PROGRAM_CHARS:
            raise ToolError(
                f"program_text has {len(program_text)} characters; the limit is {MAX_PROGRAM_CHARS}"
            )
        if not program_text.strip():
            raise ToolError("program_text is empty: give the program's Python source")
        verdict = _guarded(
            verify,
            loaded,
            program_text,
            sandbox_backend=self.sandbox,
            timing_seed=self.timing_seed,
            filename="program.py",
        )
        baseline = None
        if verdict.correct and loaded.baseline is not None:
            baseline = _guarded(
                baseline_cycles, loaded, timing_seed=self.timing_seed, sandbox_backend=self.sandbox
            )
        budget = budget_of(_guarded(load_target, loaded.target))
        fields = dict(
            task=loaded.key,
            status=verdict.status,
            correct=verdict.correct,
            cycles=verdict.cycles,
            floor_cycles=verdict.floor_cycles,
            baseline_cycles=baseline,
            speedup=round(baseline / verdict.cycles, 4) if baseline and verdict.cycles else None,
            feedback=verdict.feedback,
            bottleneck=verdict.bottleneck,
            resources=[
                ResourceUse(resource=name, used=used, budget=budget.get(name))
                for name, used in verdict.resources.items()
            ],
            seed=verdict.seed,
            dims=verdict.dims,
        )
        if not detail:
            return Evaluation(**fields)
        return Simulation(
            **fields,
            metrics=verdict.metrics,
            per_op=verdict.per_op,
            timeline=[
                TimelineEntry(op=op, start=start, end=end)
                for op, start, end in verdict.timeline[:TIMELINE_LIMIT]
            ],
            timeline_total=len(verdict.timeline),
        )

    def recall(self, task: str | None, query: str | None, k: int) -> Recall:
        """Verified programs: the store's own similarity for a task; for free text, the
        best program of each task whose name or description shares the most words."""
        from memory.store import ExperienceStore

        if (task is None) == (query is None):
            raise ToolError("give either task (suite/name) or query (free text), not both")
        if not 1 <= k <= MAX_RECALL:
            raise ToolError(f"k must be between 1 and {MAX_RECALL}, not {k}")
        loaded = _task(task) if task is not None else None
        keys = _matching_tasks(query) if query is not None else []
        if not self.memory.is_file():  # never create a store by reading one
            return Recall(store=str(self.memory), examples=[])

        def search() -> list:
            store = ExperienceStore(self.memory)
            try:
                if loaded is not None:
                    return store.recall(loaded, k=k)
                return [a for key in keys if (a := store.best(key))][:k]
            finally:
                store.close()

        found = _guarded(search)  # a damaged or locked store is one line, too
        return Recall(
            store=str(self.memory),
            examples=[
                Example(
                    task=a.task_key,
                    cycles=a.cycles,
                    program=a.program,
                    model=a.model,
                    attempt_id=a.id,
                )
                for a in found
                if a.verified and a.cycles is not None
            ],
        )


def reference_entries(text: str) -> dict[str, str]:
    """Each op's entry in a REFERENCE.md, by op name. An entry starts at a line that opens
    with the op's call in backticks — a `### ` heading (sam) or a bold `**` paragraph (step,
    dae) — and runs to the next such line or heading."""
    opener = re.compile(r"^(?:#{2,4} |- )?\*{0,2}`@?(?:[a-z]+\.)?([a-z_][a-z0-9_]*)\(")
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = opener.match(line)
        if match:
            current = entries.setdefault(match.group(1), [])
            if current:
                current.append("")
        elif line.startswith("#"):
            current = None
        if current is not None:
            current.append(line)
    return {name: "\n".join(lines).strip() for name, lines in entries.items()}


def _suite_name(suite: str) -> str:
    """A suite is named, never a folder: see the module docstring."""
    name = suite.strip().removeprefix("benchmarks/").strip("/")
    if name not in DIALECTS:
        raise ToolError(f"no suite {suite!r}; known suites: {', '.join(DIALECTS)}")
    return name


def _task(ref: str):
    from benchmarks.task import load_task

    suite, _, name = ref.strip().partition("/")
    if not name or "/" in name or name.startswith(".") or name.endswith(".toml"):
        raise ToolError(f"task {ref!r}: give suite/name, e.g. step/gemm (see list_tasks)")
    return _guarded(load_task, f"{_suite_name(suite)}/{name}")


def _tensor(spec) -> TensorInfo:
    return TensorInfo(name=spec.name, dtype=spec.dtype, shape=list(spec.shape))


def _matching_tasks(query: str) -> list[str]:
    """Task keys of every suite, most query words (3+ letters) in key or description first."""
    from benchmarks.task import load_suite

    words = {w for w in re.findall(r"[a-z0-9]+", query.lower()) if len(w) >= 3}
    if not words:
        raise ToolError(f"query {query!r} has no word of three letters or more")
    scored = []
    for suite in DIALECTS:
        for t in _guarded(load_suite, suite):
            text = set(re.findall(r"[a-z0-9]+", f"{t.key} {t.description}".lower()))
            if hits := len(words & text):
                scored.append((-hits, t.key))
    return [key for _, key in sorted(scored)]


def _guarded(call, *args, **kwargs):
    """Run `call`; a fault the client caused or a broken set-up becomes a one-line tool
    error (the session goes on). A bug of ours stays an exception: the SDK reports it as
    a crash of this call only."""
    from benchmarks.task import TaskError
    from interpreter.targets import TargetError
    from memory.errors import StoreError

    faults: tuple[type[BaseException], ...] = (TaskError, TargetError, StoreError, OSError)
    try:
        from sandbox import SandboxConfigError

        faults += (SandboxConfigError,)
    except ImportError:
        pass
    try:
        return call(*args, **kwargs)
    except faults as exc:
        raise ToolError(" ".join(str(exc).split())) from None


def build_server(memory: Path | None = None, sandbox: str | None = None) -> MCPServer:
    """The server with its tools; the docstrings below are what a client's model reads."""
    box = Toolbox(memory=memory, sandbox=sandbox)
    server = MCPServer("dataflow-kernels", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool()
    def list_tasks(suite: DialectName) -> TaskList:
        """The tasks of one suite (step, sam or dae): names to pass as `task`."""
        return box.list_tasks(suite)

    @server.tool()
    def show_task(task: str) -> TaskDetail:
        """One task (suite/name): description, inputs, dims, target, budget, dialect."""
        return box.show_task(task)

    @server.tool()
    def show_reference(dialect: DialectName, op: str | None = None) -> Reference:
        """A dialect's REFERENCE.md (program form, ops, element functions, cost model), or
        only the entry of one op (e.g. op='map')."""
        return box.show_reference(dialect, op)

    @server.tool()
    def eval_program(task: str, program_text: str) -> Evaluation:
        """Verify a program (Python source defining kernel) on a task: correctness on fresh
        and held-out inputs, cycles on the simulator, the floor, the speedup over the
        baseline on the same input, feedback, resources used vs the budget, bottleneck."""
        return box.evaluate(task, program_text, detail=False)

    @server.tool()
    def simulate(task: str, program_text: str) -> Simulation:
        """eval_program plus where the cycles go: per-op busy cycles and utilization, whole-
        program metrics and a timeline of when each op was busy."""
        return box.evaluate(task, program_text, detail=True)

    @server.tool()
    def tune(task: str, program_text: str) -> str:
        """Tune a program's parameters on the simulator (not available yet)."""
        return TUNER_MISSING

    @server.tool()
    def recall(task: str | None = None, query: str | None = None, k: int = 3) -> Recall:
        """Verified programs (with their cycles) from the experience store: for a task
        (suite/name) the most similar solved tasks, or for a free-text query the tasks whose
        name or description match it."""
        return box.recall(task, query, k)

    return server


def serve(memory: Path | None = None, sandbox: str | None = None) -> None:
    """Serve over stdio until the client closes the connection."""
    build_server(memory=memory, sandbox=sandbox).run("stdio")
