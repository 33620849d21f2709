"""The offline model: no LLM, the dialects' builtin compilers write the program.

It answers the way a model would — program text in a ```python fence — so its programs
take the same road through the reply parser, the sandbox and the verifier as any model's.
A task the compiler does not cover gets a reply that says why, holds no code and carries
the whole reason as `Reply.refusal`: the solve loop records it as status `not_covered` and
does not ask again (the compiler would give the same answer).
"""

from __future__ import annotations

import importlib
import logging
import re
import time
from typing import TYPE_CHECKING

from agents.models.base import ModelError, Reply, one_line
from dsl.errors import NotCovered

if TYPE_CHECKING:
    from benchmarks.task import Task

log = logging.getLogger(__name__)


def fenced(program: str) -> str:
    """A markdown python fence around `program`, longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", program)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}python\n{program.rstrip()}\n{fence}\n"


class BuiltinModel:
    """Replies with `dsl.<dialect>.compiler.compile_task(task)`, whatever the prompt says."""

    name = "builtin"
    stateless = True  # no state between calls: a call may run elsewhere (`executors`)

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.7,
        max_tokens: int = 4096,
        task: Task | None = None,
    ) -> Reply:
        if task is None:
            raise ModelError("builtin model needs the task (it compiles the task, not the prompt)")
        start = time.perf_counter()
        module_name = f"dsl.{task.dialect}.compiler"
        try:
            compiler = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelError(
                f"builtin model: no compiler for dialect {task.dialect!r} ({exc})"
            ) from None
        compile_task = getattr(compiler, "compile_task", None)
        if compile_task is None:
            raise ModelError(f"builtin model: {module_name} has no compile_task")
        refusal = None
        try:
            program = compile_task(task)
        except NotCovered as exc:
            why = " ".join(str(exc).split())  # whole, on one line: never cut
            refusal = f"the builtin {task.dialect} compiler does not cover {task.name}: {why}"
            text = f"{refusal[0].upper()}{refusal[1:]}. No program is given."
        except Exception as exc:  # a compiler bug must fail this attempt, not the run
            log.debug("builtin compiler crashed on %s", task.key, exc_info=True)
            raise ModelError(
                f"builtin {task.dialect} compiler failed on {task.name}:"
                f" {type(exc).__name__}: {one_line(exc)}"
            ) from None
        else:
            if not isinstance(program, str):
                raise ModelError(
                    f"builtin model: {module_name}.compile_task returned {type(program).__name__}, not text"
                )
            text = fenced(program)
        seconds = time.perf_counter() - start
        return Reply(text=text, model=self.name, seconds=seconds, refusal=refusal)
