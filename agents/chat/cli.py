"""The body of `agent chat` (agents/cli.py parses the options and calls `main`)."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agents.tools import ToolError


class ChatUsageError(Exception):
    """A bad option combination or reference (the CLI turns it into a usage error)."""


def main(
    *,
    model: str | None,
    task: str | None,
    reference: str | None,
    shapes: str | None,
    dialect: str,
    resume: str | None,
    list_only: bool,
    memory: Path | None,
    sandbox: str | None,
) -> None:
    from agents.chat.agent import ChatAgent, list_sessions, sessions_path
    from agents.chat.terminal import TerminalView, run
    from agents.models import ModelError, get_model, resolve_model_spec
    from agents.workflows.run import memory_path

    store = memory_path(memory)
    console = Console(highlight=False)
    if list_only:
        _print_sessions(console, list_sessions(store), sessions_path(store))
        return
    if task and reference:
        raise ChatUsageError("give --task or --reference, not both")
    if reference and not shapes:
        raise ChatUsageError("--reference needs --shapes (e.g. --shapes a=64x128,b=128x64)")
    if resume and (task or reference):
        raise ChatUsageError("a resumed session keeps its task: /task changes it")
    if sandbox is not None:
        from sandbox import select_backend

        select_backend(sandbox)  # an unknown backend is a usage error before the session
    try:
        spec, source = resolve_model_spec(model)
        configured = not source.startswith("default")
        if configured:  # a bad name or a missing key: one line now, not at the first reply
            chosen = get_model(spec)
            if hasattr(chosen, "preflight"):
                chosen.preflight()
    except ModelError as exc:
        raise ChatUsageError(str(exc)) from None
    try:
        agent = ChatAgent(
            memory=store,
            model_spec=spec,
            configured=configured,
            view=TerminalView(console),
            session_id=resume,
            sandbox=sandbox,
        )
    except ToolError as exc:
        raise ChatUsageError(str(exc)) from None
    try:
        if model and resume:  # an explicit --model wins over the session's own
            agent.model_spec, agent.configured = spec, True
        try:
            if task:
                agent.bench.set_task({"ref": task})
            elif reference:
                file, _, function = reference.rpartition(":")
                where = f"{Path(file).expanduser().resolve()}:{function}" if file else reference
                # the absolute path: a resumed session may start in another folder
                agent.bench.set_task({"reference": where, "shapes": shapes, "dialect": dialect})
        except ToolError as exc:
            raise ChatUsageError(str(exc)) from None
        run(agent, console, store.parent / "chat_history")
    finally:
        agent.close()


def _print_sessions(console: Console, sessions: list[dict], path: Path) -> None:
    if not sessions:
        console.print(f"no chat sessions yet in {escape(str(path))}")
        return
    table = Table(title=f"chat sessions in {escape(str(path))}")
    for column in ("id", "last change", "task", "messages", "title"):
        table.add_column(column)
    for s in sessions:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s["updated"]))
        table.add_row(s["id"], when, escape(s["task"]), str(s["messages"]), escape(s["title"]))
    console.print(table)
