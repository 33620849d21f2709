"""Prompts for the four things an agent is asked to do with a task.

    propose    write a program from the task (with verified examples of similar tasks)
    guardian   check a proposed program for stream-use and type mistakes before it is
               verified (the seed paper's second stage: streams are consumed once,
               explicit copies where a value is needed twice)
    repair     fix a program from the verifier's feedback
    optimise   make a correct program faster from the simulator's bottleneck report

The system message is the same for all four: the dialect's `REFERENCE.md`, read at run
time (the one text that people and prompts share), and the rules of the answer. The
user message is a template from `templates/` filled with the task's description and
signature. The task's check and held-out dimension values, its reference code and its
baseline program are never put in a prompt.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any, Literal

import dsl
from agents.prompts.lessons import ExampleLike, render_examples, render_pair

if TYPE_CHECKING:
    from benchmarks.task import Task

Mode = Literal["propose", "guardian", "repair", "optimise"]
MODES: tuple[str, ...] = ("propose", "guardian", "repair", "optimise")
TEMPLATES = Path(__file__).parent / "templates"
MODE_MARKERS = {
    "propose": "Write the program for this task",
    "guardian": "Review this program before it is verified",
    "repair": "What the verifier found",
    "optimise": "What the cycle simulator reports",
}
"""A phrase found in the user message of exactly one mode (scripted replies match on it)."""
MAX_PROGRAM_CHARS = 40_000
MAX_FEEDBACK_CHARS = 6_000
DIALECT_TITLES = {
    "step": "STeP (Streaming Tensor Programs)",
    "sam": "SAM (the Sparse Abstract Machine)",
    "dae": "DAE (decoupled access-execute)",
}


class PromptError(Exception):
    """A prompt cannot be built (missing reference, bad mode or arguments)."""


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / f"{name}.md").read_text())


@cache
def _stream_rule(dialect: str) -> str:
    """The guardian's first rule, with a worked example, in the dialect's own terms."""
    return (TEMPLATES / f"guardian_{dialect}.md").read_text().rstrip() + "\n"


def reference_path(dialect: str) -> Path:
    return Path(dsl.__file__).parent / dialect / "REFERENCE.md"


def _reference(dialect: str) -> str:
    path = reference_path(dialect)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise PromptError(f"dialect {dialect!r} has no reference at {path}") from None


def build_messages(
    task: Task,
    *,
    mode: Mode,
    examples: Sequence[ExampleLike] = (),
    program: str | None = None,
    feedback: str | Mapping[str, Any] | None = None,
    pair: Mapping[str, Any] | None = None,
) -> list[dict[str, str]]:
    """System and user messages for one request. `feedback` is the verifier's verdict
    (its dict, or text) for repair, the simulator's report for optimise; `pair` (optimise
    only) an improvement pair from memory (`lessons.pair_of`)."""
    if mode not in MODES:
        raise PromptError(f"unknown prompt mode {mode!r}; expected one of {', '.join(MODES)}")
    if mode != "propose" and not (program and program.strip()):
        raise PromptError(f"mode {mode} needs the program to work on")
    if mode == "repair" and not feedback:
        raise PromptError("mode repair needs the verifier's feedback")
    system = _template("system").substitute(
        dialect=task.dialect,
        dialect_title=DIALECT_TITLES.get(task.dialect, task.dialect),
        reference=_reference(task.dialect),
    )
    user = _template(mode).substitute(
        task_name=task.key,
        description=task.description.strip(),
        signature=render_signature(task),
        examples=render_examples(examples),
        pair=render_pair(pair) if mode == "optimise" else "",
        program=_clip(program or "", MAX_PROGRAM_CHARS).strip("\n"),
        feedback=render_feedback(feedback, mode) + _quoted_lines(feedback, program),
        stream_rule=_stream_rule(task.dialect),
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def render_signature(task: Task) -> str:
    """Inputs, outputs, dims and params as the program sees them (`Task.signature`), and
    the task's structural spec (which ops in which order)."""
    sig = task.signature()
    lines = ["inputs:"]
    lines += [f"  {_tensor(t)}" for t in sig["inputs"]]
    lines.append("outputs:")
    lines += [f"  {_tensor(t)}" for t in sig["outputs"]]
    if sig["dims"]:
        lines.append("dims:")
        for name, value in sig["dims"].items():
            if value is None:
                lines.append(f"  {name}: symbolic (checked at several sizes you are not told)")
            else:
                lines.append(f"  {name} = {value}")
    if sig["params"]:
        lines.append("params (keyword arguments of kernel, with these defaults):")
        lines += [f"  {k} = {v!r}" for k, v in sig["params"].items()]
    if task.spec:  # the structural form of the task (the seed paper found it helps)
        lines.append("structure:")
        lines += [f"  {k} = {json.dumps(v)}" for k, v in task.spec.items()]
    args = [t["name"] for t in sig["inputs"]] + [f"{k}={v!r}" for k, v in sig["params"].items()]
    outputs = ", ".join(t["name"] for t in sig["outputs"])
    lines.append(f"kernel: def kernel({', '.join(args)})  # produces {outputs}")
    return "\n".join(lines)


def _tensor(entry: dict[str, Any]) -> str:
    shape = ", ".join(str(d) for d in entry["shape"])
    extras = {k: v for k, v in entry.items() if k not in ("name", "dtype", "shape")}
    extra = "".join(f", {k}={v}" for k, v in extras.items())
    return f"{entry['name']}: {entry['dtype']}[{shape}]{extra}"


def render_feedback(feedback: str | Mapping[str, Any] | None, mode: str) -> str:
    """The verifier's verdict (dict) or a text report, as lines a model can act on."""
    if feedback is None:
        return "(no report)"
    if isinstance(feedback, str):
        return _clip(feedback.strip(), MAX_FEEDBACK_CHARS)
    lines = []
    if feedback.get("status"):
        lines.append(f"status: {feedback['status']}")
    if feedback.get("feedback"):
        lines.append(f"feedback: {_without_bottleneck(feedback)}")
    if feedback.get("cycles") is not None:
        floor = feedback.get("floor_cycles")
        floor_text = f" (roofline floor {float(floor):.0f})" if floor else ""
        lines.append(f"cycles: {feedback['cycles']}{floor_text}")
    if feedback.get("baseline_cycles"):
        lines.append(f"baseline to beat: {feedback['baseline_cycles']} cycles")
    if feedback.get("bottleneck"):
        lines.append(f"bottleneck: {feedback['bottleneck']}")
    metrics = feedback.get("metrics") or {}
    if metrics and mode == "optimise":
        lines.append(
            "metrics: " + ", ".join(f"{k}={_number(v)}" for k, v in sorted(metrics.items()))
        )
    per_op = feedback.get("per_op") or {}
    if per_op and mode == "optimise":
        # where the simulator found the critical path, its ops first: only they set cycles
        on_path = [kv for kv in per_op.items() if _number_of(kv[1], "critical_cycles") > 0]
        lines.append("ops on the critical path:" if on_path else "busiest ops:")
        ranked = sorted(
            on_path or per_op.items(),
            key=lambda kv: (-_number_of(kv[1], "critical_cycles"), -_busy(kv[1])),
        )[:6]
        for op, stats in ranked:
            lines.append(f"  {op}: " + ", ".join(f"{k}={_number(v)}" for k, v in stats.items()))
    return _clip("\n".join(lines) or "(empty report)", MAX_FEEDBACK_CHARS)


def _without_bottleneck(feedback: Mapping[str, Any]) -> str:
    """The verdict's feedback without the bottleneck sentence it quotes (often cut short):
    the "bottleneck:" line gives that sentence in full, once."""
    text = str(feedback["feedback"])
    bottleneck = str(feedback.get("bottleneck") or "")
    at = text.find(bottleneck[:40]) if len(bottleneck) >= 40 else text.find(bottleneck or "\0")
    return text[:at].rstrip() if at > 0 else text


_LINE_REFERENCE = re.compile(r"\bline (\d+)\b")


def _quoted_lines(feedback: str | Mapping[str, Any] | None, program: str | None) -> str:
    """The program lines the feedback names ("line 8"), quoted, so a model need not count
    lines (numbering the program itself invites models to copy the numbers back)."""
    if not feedback or not program:
        return ""
    text = feedback if isinstance(feedback, str) else str(feedback.get("feedback") or "")
    lines = program.splitlines()
    quoted = []
    for number in dict.fromkeys(int(n) for n in _LINE_REFERENCE.findall(text)):
        if 1 <= number <= len(lines) and lines[number - 1].strip() and len(quoted) < 3:
            quoted.append(f"line {number} of your program: {lines[number - 1].strip()}")
    return "".join(f"\n{q}" for q in quoted)


def _number_of(stats: Mapping[str, Any], key: str) -> float:
    value = stats.get(key)
    return float(value) if isinstance(value, int | float) else 0.0


def _busy(stats: Mapping[str, Any]) -> float:
    for key in ("busy", "busy_cycles", "cycles"):
        value = stats.get(key)
        if isinstance(value, int | float):
            return float(value)
    return 0.0


def _number(value: Any) -> str:
    """Three significant digits: enough to optimise by, and too coarse to carry the values
    of the secret timed input out through a count a program made depend on them."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if abs(value) >= 1000:
        return str(int(float(f"{value:.3g}")))
    return f"{value:.3g}"


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters cut)"


def prompt_hash(messages: Sequence[Mapping[str, str]]) -> str:
    """A short, stable digest of a prompt (for the store: which prompt gave which program)."""
    canonical = json.dumps([dict(m) for m in messages], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
