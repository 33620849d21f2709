"""The kernel tools, once, for every front end: `agent mcp` serves them to coding agents and
`agent chat` gives them to its own model and to the person typing slash commands.

Why one layer: a tool must mean the same thing wherever it is called — the same checks of
a client's input, the same verifier, the same secret timed input for a session — and a fix
to one must reach both. Each tool is a plain method of `Toolbox` returning a typed
(pydantic) result; a mistake a caller can make is a `ToolError` of one line.

Trust: programs are untrusted text. They reach `interpreter.verifier.verify`, which builds
their IR in the sandbox; this process only checks and simulates the IR. Tasks named by a
caller are `suite/name` inside the project's own suites (never a path): loading a task
imports its suite's reference module, so a client must not be able to point it at another
folder. (The chat also takes a `Task` object its user built from their own code.)
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from benchmarks.task import Task

MAX_PROGRAM_CHARS = 100_000
"""Longer program text is refused before it reaches the sandbox (real kernels are a few KB)."""
TIMELINE_LIMIT = 64
"""Timeline entries `simulate` returns at most (a client reads them; the total is given)."""
MAX_RECALL = 10
DIALECTS = ("step", "sam", "dae")
Dialect = Literal["step", "sam", "dae"]
TUNE_BUDGET = 12
"""Evaluations a `tune` call makes unless asked otherwise (each is a full verification)."""
MAX_TUNE_BUDGET = 60


class ToolError(Exception):
    """A caller's mistake or a broken set-up, in one line; the session goes on."""


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
    pair: list[Example] | None = Field(
        default=None,
        description="For a task: how a similar program was made faster (slower, then faster)",
    )


class Tuning(BaseModel):
    task: str
    evaluations: int = Field(description="Programs the tuner verified (the start included)")
    start_params: dict[str, Any] = Field(description="The program's own parameter values")
    start_cycles: int | None
    best_params: dict[str, Any] | None
    best_cycles: int | None
    speedup: float | None = Field(description="start_cycles / best_cycles")
    program: str | None = Field(description="The program with the best values as defaults")


class Toolbox:
    """The tools' behaviour, apart from any protocol (so each is one plain method)."""

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

    def show_task(self, task: str | Task) -> TaskDetail:
        from interpreter.budget import budget_of
        from interpreter.targets import load_target

        loaded = resolve_task(task)
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

    def evaluate(
        self, task: str | Task, program_text: str, detail: bool
    ) -> Evaluation | Simulation:
        """Verify (sandbox + trusted check + simulation) and time the baseline on the
        session's timed input."""
        from interpreter.budget import budget_of
        from interpreter.targets import load_target
        from interpreter.verifier import baseline_cycles, verify

        loaded = resolve_task(task)
        _check_program(program_text)
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

    def tune(self, task: str | Task, program_text: str, budget: int = TUNE_BUDGET) -> Tuning:
        """Tune the program's declared parameters (`@<dialect>.tunable`) with the BaCO
        tuner, on the session's timed input."""
        from agents.tuning import TuneError, tune_program, with_values

        loaded = resolve_task(task)
        _check_program(program_text)
        if not 1 <= budget <= MAX_TUNE_BUDGET:
            raise ToolError(f"budget must be between 1 and {MAX_TUNE_BUDGET}, not {budget}")
        try:
            run = _guarded(
                tune_program,
                loaded,
                program_text,
                budget=budget,
                sandbox=self.sandbox,
                timing_seed=self.timing_seed,
            )
        except TuneError as exc:
            raise ToolError(" ".join(str(exc).split())) from None
        start, best = run.start, run.best
        return Tuning(
            task=loaded.key,
            evaluations=len(run.trials),
            start_params=start.params if start else {},
            start_cycles=start.cycles if start else None,
            best_params=best.params if best else None,
            best_cycles=best.cycles if best else None,
            speedup=round(start.cycles / best.cycles, 4)
            if best and start and start.cycles
            else None,
            program=with_values(program_text, loaded.dialect, best.params) if best else None,
        )

    def recall(self, task: str | Task | None, query: str | None, k: int) -> Recall:
        """Verified programs: the store's own similarity for a task; for free text, the
        best program of each task whose name or description shares the most words."""
        from memory.store import ExperienceStore

        if (task is None) == (query is None):
            raise ToolError("give either task (suite/name) or query (free text), not both")
        if not 1 <= k <= MAX_RECALL:
            raise ToolError(f"k must be between 1 and {MAX_RECALL}, not {k}")
        loaded = resolve_task(task) if task is not None else None
        keys = _matching_tasks(query) if query is not None else []
        if not self.memory.is_file():  # never create a store by reading one
            return Recall(store=str(self.memory), examples=[])

        def search() -> tuple[list, Any]:
            store = ExperienceStore(self.memory)
            try:
                if loaded is not None:
                    return store.recall(loaded, k=k), store.recall_pair(loaded)
                return [a for key in keys if (a := store.best(key))][:k], None
            finally:
                store.close()

        found, pair = _guarded(search)  # a damaged or locked store is one line, too
        return Recall(
            store=str(self.memory),
            examples=[_example(a) for a in found if a.verified and a.cycles is not None],
            pair=[_example(pair.slower), _example(pair.faster)] if pair else None,
        )


def _example(attempt: Any) -> Example:
    return Example(
        task=attempt.task_key,
        cycles=attempt.cycles,
        program=attempt.program,
        model=attempt.model,
        attempt_id=attempt.id,
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


def _check_program(program_text: str) -> None:
    if len(program_text) > MAX_PROGRAM_CHARS:
        raise ToolError(
            f"program_text has {len(program_text)} characters; the limit is {MAX_PROGRAM_CHARS}"
        )
    if not program_text.strip():
        raise ToolError("program_text is empty: give the program's Python source")


def resolve_task(ref: str | Task) -> Task:
    """A `Task` as it is, or `suite/name` of the project's suites (never a path)."""
    from benchmarks.task import Task, load_task

    if isinstance(ref, Task):
        return ref
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


def _guarded(call: Any, *args: Any, **kwargs: Any) -> Any:
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
