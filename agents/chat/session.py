"""The chat's workbench: the task, the current program and its history, and the tools acting
on them — the same `agents.tools.Toolbox` that `agent mcp` serves.

Slash commands (the person's) and tool calls (the model's) both land here, so both see and
change the same program. Everything that must survive a restart is plain data
(`snapshot()`/`restore()`), kept in the session's langgraph checkpoint.
"""

from __future__ import annotations

import difflib
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from agents.chat.protocol import PatchError, apply_diff
from agents.tools import Evaluation, Simulation, Toolbox, ToolError, resolve_task

T = TypeVar("T")
Wait = Callable[..., Any]
"""How a workbench waits for a slow tool: `wait(call, *args)` returns `call(*args)` (`at_once`,
or the chat's `cancellable`)."""
TIMELINE_SHOWN = 12
PER_OP_SHOWN = 8


class Cancelled(Exception):
    """The person pressed Ctrl-C while a tool or the model was working."""


def at_once(call: Callable[..., T], *args: Any) -> T:
    """The plain `Wait`: the call itself, in this thread."""
    return call(*args)


def cancellable(call: Callable[..., T], *args: Any) -> T:
    """Run `call` in a worker thread and wait; Ctrl-C abandons it and raises `Cancelled`.
    The abandoned call runs on to its end (its sandboxes are in sessions of their own, out of
    the terminal's reach) and its result is dropped, so it must change nothing itself: the
    caller applies a result (see `Workbench.check`)."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["value"] = call(*args)
        except BaseException as exc:  # handed to the waiting thread, raised there
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, daemon=True, name="chat-tool").start()
    try:
        while not done.wait(0.05):
            pass
    except KeyboardInterrupt:
        raise Cancelled() from None
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass
class Result:
    """What a tool gives back: text for the model and the person, and what to highlight."""

    text: str
    program: str | None = None
    diff: str | None = None
    ok: bool = True


@dataclass
class Workbench:
    toolbox: Toolbox
    task_spec: dict[str, Any] | None = None
    program: str = ""
    history: list[str] = field(default_factory=list)
    author: str = "person"
    verdict: dict[str, Any] | None = None  # the last check: program hash, status, cycles
    _task: Any = None

    # -- persistence

    def snapshot(self) -> dict[str, Any]:
        return {
            "task_spec": self.task_spec,
            "program": self.program,
            "history": list(self.history),
            "author": self.author,
            "verdict": self.verdict,
        }

    def restore(self, values: dict[str, Any]) -> None:
        self.task_spec = values.get("task_spec")
        self.program = values.get("program", "")
        self.history = list(values.get("history", []))
        self.author = values.get("author", "person")
        self.verdict = values.get("verdict")
        self._task = None

    @property
    def task(self) -> Any:
        """The `Task` (built once from `task_spec`); `ToolError` when there is none."""
        if self._task is None:
            if self.task_spec is None:
                raise ToolError("no task yet: /task suite/name (e.g. /task step/gemm)")
            self._task = task_of(self.task_spec)
        return self._task

    # -- the program

    def set_task(self, spec: dict[str, Any]) -> Result:
        self._task = task_of(spec)
        self.task_spec = spec
        self.verdict = None
        t = self._task
        inputs = ", ".join(f"{i.name}{list(i.shape)}" for i in t.inputs)
        outputs = ", ".join(f"{o.name}{list(o.shape)}" for o in t.outputs)
        first = t.description.strip().splitlines()[0] if t.description.strip() else ""
        return Result(
            f"task {t.key} ({t.dialect}, target {t.target}): {inputs} -> {outputs}. {first}"
        )

    def write(self, program: str, author: str) -> Result:
        if not program.strip():
            raise ToolError("the program is empty")
        before = self.program
        if program == before:
            return Result("the program is unchanged")
        if before:
            self.history.append(before)
        self.program, self.author = program, author
        return Result(
            f"program replaced ({len(program.splitlines())} lines)",
            program=program if not before else None,
            diff=unified(before, program) if before else None,
        )

    def edit(self, diff: str, author: str) -> Result:
        if not self.program:
            raise ToolError("there is no program to edit yet: write it whole in a ```python fence")
        try:
            changed = apply_diff(self.program, diff)
        except PatchError as exc:
            raise ToolError(f"the diff does not apply: {exc}") from None
        return self.write(changed, author)

    def undo(self) -> Result:
        if not self.history:
            raise ToolError("nothing to undo")
        current = self.program
        self.program = self.history.pop()
        return Result("back to the previous program", diff=unified(current, self.program))

    def diff(self) -> Result:
        if not self.history:
            return Result("no earlier program to compare with", program=self.program or None)
        return Result(
            "changes since the previous program", diff=unified(self.history[-1], self.program)
        )

    def open(self, path: Path) -> Result:
        try:
            text = path.expanduser().read_text(errors="replace")
        except OSError as exc:
            raise ToolError(f"cannot read {path}: {exc.strerror or exc}") from None
        result = self.write(text, "person")
        return Result(f"opened {path}: {result.text}", program=text)

    # -- the tools

    def check(self, detail: bool, wait: Wait = at_once) -> Result:
        """Verify the program; the verdict is recorded here, after `wait` returns, so that a
        cancelled check changes nothing when it ends in the background."""
        self._need_program()
        program = self.program
        verdict = wait(self.toolbox.evaluate, self.task, program, detail)
        self.verdict = {
            "program": digest(program),
            "status": verdict.status,
            "cycles": verdict.cycles,
            "floor_cycles": verdict.floor_cycles,
            "feedback": verdict.feedback,
            "bottleneck": verdict.bottleneck,
        }
        return Result(render_verdict(verdict), ok=verdict.status == "passed")

    def tune(self, arg: str, wait: Wait = at_once) -> Result:
        """Tune the program's parameters; as with `check`, only a finished tuning (not a
        cancelled one) makes its best values the program."""
        self._need_program()
        budget = int(arg) if arg.strip().isdigit() else None
        budget_args = (budget,) if budget else ()
        tuning = wait(self.toolbox.tune, self.task, self.program, *budget_args)
        text = (
            f"tuned in {tuning.evaluations} evaluations: start {tuning.start_params}"
            f" -> {tuning.start_cycles} cycles; best {tuning.best_params} -> {tuning.best_cycles}"
            f" cycles" + (f" ({tuning.speedup}x)" if tuning.speedup else "")
        )
        if tuning.program and tuning.program != self.program:
            self.write(tuning.program, "tuner")
            text += "; the program now defaults to the best values (/undo restores it)"
        return Result(text, ok=tuning.best_cycles is not None)

    def recall(self, query: str) -> Result:
        found = (
            self.toolbox.recall(None, query, 3)
            if query.strip()
            else self.toolbox.recall(self.task, None, 3)
        )
        if not found.examples:
            return Result(f"no verified program in memory ({found.store}) matches")
        parts = [
            f"{e.task}: {e.cycles} cycles (by {e.model}, attempt {e.attempt_id})\n"
            f"```python\n{e.program.strip()}\n```"
            for e in found.examples
        ]
        if found.pair:
            slower, faster = found.pair
            parts.append(
                f"How {faster.task} was made faster: {slower.cycles} -> {faster.cycles} cycles\n"
                + unified(slower.program, faster.program)
            )
        return Result("\n".join(parts))

    def show(self, op: str) -> Result:
        dialect = self.task.dialect if self.task_spec else "step"
        if not op.strip():
            ref = self.toolbox.show_reference(dialect)
            return Result(f"{dialect} ops with an entry: {', '.join(ref.ops)}")
        return Result(self.toolbox.show_reference(dialect, op.strip()).text)

    def save(self, path: Path, store: Any | None, model: str) -> Result:
        """Write the program to `path`; a program whose last check passed goes into memory
        like any verified attempt (it was verified on fresh inputs, here, not trusted)."""
        self._need_program()
        try:
            path.expanduser().write_text(self.program)
        except OSError as exc:
            raise ToolError(f"cannot write {path}: {exc.strerror or exc}") from None
        verdict = self.verdict
        if not verdict or verdict["program"] != digest(self.program):
            return Result(f"saved to {path} (not verified as it is: /eval to check it)")
        if verdict["status"] != "passed" or store is None:
            return Result(f"saved to {path} ({verdict['status']}; not added to memory)")
        attempt = store.record_attempt(
            task=self.task,
            program=self.program,
            model=model if self.author == "model" else self.author,
            prompt_hash="chat",
            verdict={k: v for k, v in verdict.items() if k != "program"},
            run_id="chat",
        )
        return Result(
            f"saved to {path}; verified ({verdict['cycles']} cycles): memory attempt {attempt}"
        )

    def _need_program(self) -> None:
        if not self.program.strip():
            raise ToolError(
                "no program yet: ask for one, /open FILE, or paste one in a ```python fence"
            )


def task_of(spec: dict[str, Any]) -> Any:
    """The task a session works on: `{"ref": "suite/name" or "file.toml"}`, or the user's
    own PyTorch function (`{"reference": "file.py:fn", "shapes": ..., "dialect": ...}`)."""
    from benchmarks.task import TaskError, parse_task

    if "reference" in spec:
        from agents.chat.user_task import task_from_reference

        return task_from_reference(spec["reference"], spec["shapes"], spec.get("dialect", "step"))
    ref = str(spec["ref"])
    if ref.endswith(".toml"):
        from agents.chat.user_task import own_task

        try:
            return own_task(parse_task(Path(ref).expanduser()))
        except TaskError as exc:
            raise ToolError(" ".join(str(exc).split())) from None
    return resolve_task(ref)


def digest(program: str) -> str:
    return hashlib.sha256(program.encode()).hexdigest()[:16]


def unified(before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(True), after.splitlines(True), "before.py", "after.py"
        )
    )


def render_verdict(v: Evaluation | Simulation) -> str:
    """A verdict in a few lines: what a person reads first, and what the model is fed."""
    head = v.status
    if v.cycles is not None:
        head += f" · {v.cycles:,} cycles"
        if v.floor_cycles:
            head += f" (floor {v.floor_cycles:,.0f})"
        if v.baseline_cycles:
            head += f" · baseline {v.baseline_cycles:,}, speedup {v.speedup}x"
    lines = [head]
    if v.bottleneck and v.bottleneck not in v.feedback:
        lines.append(f"bottleneck: {v.bottleneck}")
    used = [
        f"{r.resource} {r.used:g}" + (f"/{r.budget:g}" if r.budget is not None else "")
        for r in v.resources
    ]
    if used:
        lines.append("resources: " + ", ".join(used))
    if v.feedback:
        lines.append("feedback: " + v.feedback.strip()[:1200])
    if v.seed is not None and v.status != "passed":
        lines.append(f"failing seed {v.seed}, dims {v.dims}")
    if isinstance(v, Simulation):
        busy = sorted(
            v.per_op.items(),
            key=lambda kv: -float(kv[1].get("busy_cycles", kv[1].get("busy", 0.0))),
        )
        for op, stats in busy[:PER_OP_SHOWN]:
            figures = ", ".join(f"{k} {float(x):.4g}" for k, x in list(stats.items())[:4])
            lines.append(f"  {op}: {figures}")
        if v.timeline:
            shown = "; ".join(f"{e.op} {e.start}-{e.end}" for e in v.timeline[:TIMELINE_SHOWN])
            lines.append(f"timeline ({v.timeline_total} entries): {shown}")
    return "\n".join(lines)
