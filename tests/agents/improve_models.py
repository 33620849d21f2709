"""A model that learns from examples, for the improve tests (in process and in a subprocess).

`ExampleLearner` answers like a model that knows the dialect only a little: it can write
`step/gemm` (the suite's baseline) on its own, but a variant such as `step/gemm_bias` only
when its prompt shows a verified program of a task whose name shares a word with it (the
example it adapts); without one it writes a plausible program with a wrong element function
(which the verifier rejects). Asked to optimise gemm it gives the memory-port rewrite
(its program on `compute=4` units, ~3x faster); anything else it gives back unchanged. It is a function of its
prompt alone — no cursor, no state — so a killed and resumed run gets the same answers.

Its replies are real program text, verified by the real sandbox and verifier.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from agents.models import Reply
from benchmarks.task import Task, load_task
from tests.agents.gemm_programs import with_compute

EXAMPLES_HEADING = "## Verified programs for similar tasks"
_HEADING = re.compile(r"^### (\w+)/(\w+)", re.MULTILINE)
_PROGRAM = re.compile(r"```python\n(.*?)```", re.DOTALL)


def baseline(task: Task) -> str:
    return task.baseline_source() or ""


def broken(task: Task) -> str:
    """The baseline with an element function the dialect does not have: invalid."""
    return baseline(task).replace('"matmul"', '"matmul_nope"', 1)


def faster(program: str) -> str:
    """A compiled baseline on 4 compute units: faster, and longer than the baseline."""
    return with_compute(program, 4)


class ExampleLearner:
    """See the module docstring. `delay` seconds per call (to widen a kill window);
    `prompts` keeps each call's (task, mode, example task keys)."""

    def __init__(self, delay: float = 0.0, name: str = "learner") -> None:
        self.name = name
        self.delay = delay
        self.prompts: list[tuple[str, str, list[str]]] = []
        self._lock = threading.Lock()

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.7,
        max_tokens: int = 4096,
        task: Task | None = None,
    ) -> Reply:
        assert task is not None
        user = messages[-1]["content"]
        shown = _example_tasks(user)
        mode = _mode(user)
        with self._lock:
            self.prompts.append((task.key, mode, shown))
        if self.delay:
            time.sleep(self.delay)
        if mode == "optimise":
            current = _PROGRAM.findall(user.split("## Your program (correct)", 1)[1])[0]
            program = faster(current) if task.name == "gemm" else current
        elif task.name == "gemm" or _learns_from(task, shown):
            program = baseline(task)
        else:
            program = broken(task)
        text = f"Here it is.\n\n```python\n{program.rstrip()}\n```\n"
        return Reply(text=text, model=self.name, prompt_tokens=100, completion_tokens=50)


def _mode(user: str) -> str:
    if "What the cycle simulator reports" in user:
        return "optimise"
    if "What the verifier found" in user:
        return "repair"
    return "propose"


def _example_tasks(user: str) -> list[str]:
    if EXAMPLES_HEADING not in user:
        return []
    section = user.split(EXAMPLES_HEADING, 1)[1]
    return [f"{d}/{n}" for d, n in _HEADING.findall(section)]


def _learns_from(task: Task, shown: list[str]) -> bool:
    words = set(task.name.split("_"))
    return any(words & set(key.split("/")[1].split("_")) for key in shown if key != task.key)


def learner_model(spec: str) -> Any:
    """`get_model` for the subprocess driver: "learner[:delay]" is the learner."""
    _, _, delay = spec.partition(":")
    return ExampleLearner(float(delay or 0.0), name=spec)


GEMM_TASKS = [load_task(f"step/{name}") for name in ("gemm", "gemm_bias", "gemm_silu")]
