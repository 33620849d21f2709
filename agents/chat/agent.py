"""The chat agent: a langgraph graph (model node -> tool node -> model ...) over one workbench,
checkpointed in SQLite so a session resumes by id.

One turn: the model node asks the model (its reply streams when the backend streams), the
tool node runs the reply's tool calls (`protocol.parse_reply`) on the workbench and hands the
results back to the model; a reply without tool calls ends the turn, and so does Ctrl-C or
`MAX_STEPS` tool rounds. Slash commands the person types run the same dispatcher directly
and are written into the same checkpoint, so the model sees what the person did.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any, Protocol, TypedDict

from agents.chat.protocol import PROTOCOL, Action, clip, parse_reply
from agents.chat.session import Cancelled, Result, Workbench, cancellable
from agents.models import ModelError, Reply, get_model
from agents.tools import Toolbox, ToolError

MAX_STEPS = 8
"""Tool rounds per turn at most: a model that never stops calling tools is stopped."""
CONTEXT_MESSAGES = 40
"""Conversation messages a model call sees (the oldest drop out; the program is always in)."""
UNCONFIGURED = (
    "No model is configured, so free text has no one to answer it: start with --model"
    " (e.g. --model openai/gpt-4o, or --model builtin for the offline compiler), set"
    ' $AGENT_MODEL, or put [model] name = "..." in .agent.toml; slash commands work'
    " without one (/help)."
)


class State(TypedDict, total=False):
    messages: list[dict[str, str]]
    bench: dict[str, Any]
    model: str
    title: str
    usage: dict[str, float]
    pending: list[dict[str, str]]
    steps: int
    cancelled: bool
    updated: float


class View(Protocol):
    """What the terminal shows; the agent never prints itself."""

    def reply_start(self) -> None: ...
    def reply_chunk(self, text: str) -> None: ...
    def reply_end(self, text: str) -> None: ...
    def working(self, what: str) -> None: ...
    def result(self, action: str, result: Result) -> None: ...


def sessions_path(memory: Path) -> Path:
    """Sessions live next to the experience store, in the user's agent data folder."""
    return memory.parent / "chat.sqlite"


class ChatAgent:
    def __init__(
        self,
        *,
        memory: Path,
        model_spec: str,
        configured: bool,
        view: View,
        session_id: str | None = None,
        sandbox: str | None = None,
    ) -> None:
        from langgraph.checkpoint.sqlite import SqliteSaver

        self.memory = memory
        self.view = view
        self.bench = Workbench(Toolbox(memory=memory, sandbox=sandbox))
        self.configured = configured
        self.model_spec = model_spec
        self._model: Any = None
        self._call = 0  # model calls so far: a cancelled call's stream stops showing
        path = sessions_path(memory)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, check_same_thread=False)
        self.checkpointer = SqliteSaver(self.conn)
        self.graph = self._build()
        self.resumed = session_id is not None
        self.session_id = session_id or secrets.token_hex(4)
        self.config = {"configurable": {"thread_id": self.session_id}}
        values = self.graph.get_state(self.config).values if self.resumed else {}
        if self.resumed and not values:
            raise ToolError(f"no chat session {session_id!r} in {path} (agent chat --list)")
        self.messages: list[dict[str, str]] = list(values.get("messages", []))
        self.usage: dict[str, float] = dict(values.get("usage", {}))
        self.title = values.get("title", "")
        if values:
            self.bench.restore(values.get("bench", {}))
            if values.get("model") and not configured:
                self.model_spec, self.configured = values["model"], True

    # -- the graph

    def _build(self) -> Any:
        from langgraph.graph import END, START, StateGraph

        graph = StateGraph(State)
        graph.add_node("model", self._model_node)
        graph.add_node("tools", self._tools_node)
        graph.add_edge(START, "model")
        graph.add_conditional_edges("model", lambda s: "tools" if s.get("pending") else END)
        graph.add_conditional_edges(
            "tools",
            lambda s: END if s.get("cancelled") or s.get("steps", 0) >= MAX_STEPS else "model",
        )
        return graph.compile(checkpointer=self.checkpointer)

    def _model_node(self, state: State) -> State:
        messages = list(state.get("messages", []))
        try:
            reply = cancellable(self._complete, messages)
        except Cancelled:
            self._call += 1  # what the abandoned call still streams is not shown
            self.view.result("model", Result("interrupted (the session goes on)", ok=False))
            note = {"role": "user", "content": "(the person interrupted the model)"}
            return {"messages": messages + [note], "pending": [], "cancelled": True}
        except ModelError as exc:
            self.view.result("model", Result(str(exc), ok=False))
            return {"messages": messages, "pending": [], "cancelled": True}
        self._count(reply)
        self.view.reply_end(reply.text)
        actions = [vars(a) for a in parse_reply(reply.text)]
        return {
            "messages": messages + [{"role": "assistant", "content": reply.text}],
            "pending": actions,
            "usage": dict(self.usage),
        }

    def _tools_node(self, state: State) -> State:
        outcomes, cancelled = [], False
        actions = [Action(**a) for a in state.get("pending", [])]
        if any(a.name in ("write", "edit") for a in actions) and not any(
            a.name in ("eval", "sim", "tune") for a in actions
        ):
            actions.append(Action("eval"))  # a changed program is checked at once
        for action in actions:
            try:
                result = self.run(action, author="model")
            except (Cancelled, KeyboardInterrupt):
                self.view.result(action.name, Result("cancelled (the session goes on)", ok=False))
                outcomes.append(f"/{action.name}: cancelled by the person")
                cancelled = True
                break
            outcomes.append(f"/{action.name}: {clip(result.text)}")
        note = {"role": "user", "content": "Tool results:\n" + "\n\n".join(outcomes)}
        return {
            "messages": list(state.get("messages", [])) + [note],
            "bench": self.bench.snapshot(),
            "pending": [],
            "steps": state.get("steps", 0) + 1,
            "cancelled": cancelled,
            "updated": time.time(),
        }

    # -- what the person does

    def say(self, text: str) -> None:
        """A free-text turn: the model answers, calling tools as it goes. A program the
        person pastes (a ```python or ```diff fence) becomes the current program first."""
        pasted = [a for a in parse_reply(text) if a.name in ("write", "edit")]
        for action in pasted:
            self.run(action, author="person")
        if pasted:
            self.persist()
        if not self.configured:
            if not pasted:
                self.view.result("model", Result(UNCONFIGURED, ok=False))
            return
        self.title = self.title or text.strip().splitlines()[0][:60]
        values: State = {
            "messages": self.messages + [{"role": "user", "content": text}],
            "bench": self.bench.snapshot(),
            "model": self.model_spec,
            "title": self.title,
            "usage": dict(self.usage),
            "pending": [],
            "steps": 0,
            "cancelled": False,
            "updated": time.time(),
        }
        final = self.graph.invoke(values, self.config)
        self.messages = list(final.get("messages", []))

    def command(self, name: str, arg: str) -> None:
        """A slash command: the tool runs now, and the session records what happened."""
        action = Action(name, arg=arg)
        try:
            result = self.run(action, author="person")
        except (Cancelled, KeyboardInterrupt):  # Ctrl-C just before or while it ran
            result = Result("cancelled (the session goes on)", ok=False)
            self.view.result(name, result)
        note = f"(the person ran /{name}{' ' + arg if arg else ''}: {clip(result.text, 600)})"
        self.messages.append({"role": "user", "content": note})
        self.persist()

    def run(self, action: Action, *, author: str) -> Result:
        """Run one tool on the workbench; a tool error is a result, not a crash. Ctrl-C
        while it runs raises `Cancelled` (the workbench is as it was)."""
        try:
            result = self._dispatch(action, author)
        except ToolError as exc:
            result = Result(str(exc), ok=False)
        except ModelError as exc:
            result = Result(str(exc), ok=False)
        self.view.result(action.name, result)
        return result

    def _dispatch(self, action: Action, author: str) -> Result:
        bench, name, arg = self.bench, action.name, action.arg
        slow = {
            "eval": ("verifying", lambda: bench.check(False, cancellable)),
            "sim": ("simulating", lambda: bench.check(True, cancellable)),
            "tune": ("tuning", lambda: bench.tune(arg, cancellable)),
        }
        if name in slow:
            what, call = slow[name]
            bench._need_program()
            self.view.working(f"{what} {bench.task.key}… (Ctrl-C cancels)")
            return call()
        if name == "write":
            return bench.write(action.text, author)
        if name == "edit":
            return bench.edit(action.text, author)
        if name == "recall":
            return bench.recall(arg)
        if name == "show":
            return bench.show(arg)
        if name == "task":
            if not arg:
                raise ToolError("/task needs suite/name or a task file, e.g. /task step/gemm")
            return bench.set_task({"ref": arg})
        if name == "open":
            if not arg:
                raise ToolError("/open needs a program file")
            return bench.open(Path(arg))
        if name == "diff":
            return bench.diff()
        if name == "undo":
            return bench.undo()
        if name == "save":
            if not arg:
                raise ToolError("/save needs a file name, e.g. /save kernel.py")
            return bench.save(Path(arg), self._store(), self.model_spec)
        if name == "model":
            return self._switch_model(arg)
        if name == "cost":
            u = self.usage
            return Result(
                f"model {self.model_spec}: {int(u.get('calls', 0))} calls,"
                f" {int(u.get('tokens', 0))} tokens, ${u.get('cost_usd', 0.0):.4f}"
            )
        raise ToolError(f"unknown command /{name} (/help lists them)")

    def persist(self) -> None:
        """Write the workbench and conversation into the session's checkpoint."""
        self.graph.update_state(
            self.config,
            {
                "messages": self.messages,
                "bench": self.bench.snapshot(),
                "model": self.model_spec if self.configured else "",
                "title": self.title or (self.bench.task_spec or {}).get("ref", ""),
                "usage": dict(self.usage),
                "pending": [],
                "updated": time.time(),
            },
            as_node="model",  # as if the model had answered without a tool call: turn over
        )

    # -- the model

    def _switch_model(self, spec: str) -> Result:
        if not spec:
            return Result(f"model: {self.model_spec if self.configured else 'none configured'}")
        get_model(spec)  # a bad spec fails here, before the switch
        self.model_spec, self.configured, self._model = spec, True, None
        return Result(f"model is now {spec}")

    def _complete(self, messages: list[dict[str, str]]) -> Reply:
        from agents.chat.streaming import complete

        if self._model is None:
            self._model = get_model(self.model_spec)
        task = self.bench.task if self.bench.task_spec else None
        self._call += 1
        call = self._call

        def show(text: str) -> None:
            if call == self._call:
                self.view.reply_chunk(text)

        self.view.reply_start()
        return complete(
            self._model,
            self._context(task) + messages[-CONTEXT_MESSAGES:],
            task,
            show,
        )

    def _context(self, task: Any) -> list[dict[str, str]]:
        """The system message: the tool protocol, the dialect's reference, the task and the
        current program (always, so the model sees the person's edits)."""
        parts = [PROTOCOL]
        if task is not None:
            from agents.prompts.builder import reference_path, render_signature

            parts += [
                reference_path(task.dialect).read_text().strip(),
                f"The task {task.key}: {task.description.strip()}\n{render_signature(task)}",
            ]
        program = self.bench.program
        parts.append(
            f"The current program:\n```python\n{program.rstrip()}\n```"
            if program
            else "There is no program yet."
        )
        return [{"role": "system", "content": "\n\n".join(parts)}]

    def _count(self, reply: Reply) -> None:
        u = self.usage
        u["calls"] = u.get("calls", 0) + 1
        u["tokens"] = u.get("tokens", 0) + reply.tokens
        u["cost_usd"] = u.get("cost_usd", 0.0) + reply.cost_usd

    def _store(self) -> Any:
        from memory.store import ExperienceStore

        return ExperienceStore(self.memory)

    def close(self) -> None:
        self.conn.close()


def list_sessions(memory: Path) -> list[dict[str, Any]]:
    """Saved sessions, newest first: id, title, task, last change, messages."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = sessions_path(memory)
    if not path.is_file():
        return []
    conn = sqlite3.connect(path)
    try:
        latest: dict[str, dict[str, Any]] = {}
        for item in SqliteSaver(conn).list(None):
            thread = item.config["configurable"]["thread_id"]
            values = item.checkpoint.get("channel_values", {})
            if thread in latest or not values:
                continue
            bench = values.get("bench") or {}
            latest[thread] = {
                "id": thread,
                "title": values.get("title", ""),
                "task": (
                    (bench.get("task_spec") or {}).get("ref")
                    or (bench.get("task_spec") or {}).get("reference")
                    or ""
                ),
                "updated": float(values.get("updated", 0.0)),
                "messages": len(values.get("messages", [])),
            }
    finally:
        conn.close()
    return sorted(latest.values(), key=lambda s: -s["updated"])
