"""`agent chat` in the terminal: prompt_toolkit for the input line (history across sessions,
multi-line editing), rich for what comes back (programs and diffs syntax-highlighted).

Enter sends the message, except inside an open ``` fence, where it starts a new line (so a
pasted or typed program goes in whole); Esc then Enter always sends. Ctrl-C clears the line
at the prompt and cancels the running tool or model call otherwise; Ctrl-D or /quit leaves.
Without a terminal (a pipe) lines are read plainly, one message per line.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax

from agents.chat.agent import ChatAgent
from agents.chat.session import Result

HELP = """\
/task T        work on task T (suite/name or a task file)
/open FILE     make FILE the current program
/eval          verify it: correctness on fresh inputs, cycles, feedback
/sim           /eval plus per-op busy cycles and a timeline
/tune [N]      tune its @tunable parameters (N evaluations)
/recall [text] verified programs of similar tasks from memory
/show [OP]     the dialect reference entry of OP (no OP: the list)
/diff          changes since the previous program
/undo          back to the previous program
/save FILE     write it to FILE (a verified program also goes into memory)
/model [M]     show or switch the model
/cost          calls, tokens and money spent in this session
/help          this list;  /quit (or Ctrl-D) leaves
Anything else goes to the model."""
COMMANDS = "task open eval sim tune recall show diff undo save model cost help quit".split()


class TerminalView:
    """Renders what the agent does (the agent's `View`)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._streamed = False

    def reply_start(self) -> None:
        self._streamed = False

    def reply_chunk(self, text: str) -> None:
        self._streamed = True
        self.console.out(text, end="", highlight=False)

    def reply_end(self, text: str) -> None:
        if self._streamed:
            self.console.out("")
            return
        self.console.print(f"[bold magenta]agent[/] {escape(text.strip())}", highlight=False)

    def working(self, what: str) -> None:
        self.console.print(f"[dim]… {escape(what)}[/]", highlight=False)

    def result(self, action: str, result: Result) -> None:
        style = "green" if result.ok else "red"
        self.console.print(f"[{style}]/{action}[/] {escape(result.text)}", highlight=False)
        if result.program:
            self.console.print(Syntax(result.program, "python", line_numbers=True))
        if result.diff:
            self.console.print(Syntax(result.diff, "diff"))


def _input(history: Path) -> Any:
    """A function reading one message: prompt_toolkit on a terminal, else plain lines."""
    if not sys.stdin.isatty():

        def plain() -> str:  # a message runs on while a ``` fence is open
            lines: list[str] = []
            while not lines or "\n".join(lines).count("```") % 2:
                line = sys.stdin.readline()
                if not line:
                    raise EOFError
                lines.append(line.rstrip("\n"))
            return "\n".join(lines)

        return plain
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.key_binding import KeyBindings

    keys = KeyBindings()

    @keys.add("enter")
    def _(event: Any) -> None:
        buffer = event.current_buffer
        if buffer.text.count("```") % 2:  # inside a fence: a new line of the program
            buffer.insert_text("\n")
        else:
            buffer.validate_and_handle()

    history.parent.mkdir(parents=True, exist_ok=True)
    session: Any = PromptSession(
        history=FileHistory(str(history)), key_bindings=keys, multiline=True
    )
    return lambda: session.prompt("you> ")


def _own_ctrl_c() -> None:
    """Let Ctrl-C interrupt this process when it is the terminal's foreground job, even if it
    was started with SIGINT ignored. A shell without job control starts a background command
    (`cmd &`, a test suite run that way) with SIGINT ignored; the child inherits that across
    exec and Python then leaves it ignored, so a Ctrl-C at the chat's own terminal would be
    echoed and lost: a running check went on and the model was called again."""
    try:
        foreground = os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except OSError:  # no controlling terminal: nobody can press Ctrl-C at it
        return
    if foreground and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def run(agent: ChatAgent, console: Console, history: Path) -> None:
    """The conversation loop until /quit or end of input."""
    read = _input(history)
    _own_ctrl_c()
    state = "resumed" if agent.resumed else "new"
    console.print(
        f"[bold]agent chat[/] — {state} session [cyan]{agent.session_id}[/]"
        f" (agent chat --resume {agent.session_id}) · model"
        f" {escape(agent.model_spec if agent.configured else 'none configured')} · /help",
        highlight=False,
    )
    if agent.bench.task_spec:
        console.print(f"task {escape(agent.bench.task.key)}", highlight=False)
    if agent.resumed and agent.bench.program:
        console.print(Syntax(agent.bench.program, "python", line_numbers=True))
    agent.persist()
    while True:
        try:
            text = read()
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        if not text.strip():
            continue
        if text.startswith("/") and text[1:2].isalpha():
            name, _, arg = text[1:].strip().partition(" ")
            if name == "quit":
                break
            if name == "help":
                console.print(HELP, markup=False, highlight=False)
                continue
            agent.command(name, arg.strip())
        else:
            try:
                agent.say(text)
            except KeyboardInterrupt:  # between graph steps: the checkpoint is intact
                console.print("[dim]interrupted[/]")
    console.print(f"session {agent.session_id} saved: agent chat --resume {agent.session_id}")
