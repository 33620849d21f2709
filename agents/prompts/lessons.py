"""The prompt sections memory fills: verified programs of similar tasks, and an improvement
pair (what making a similar program faster looked like).

Every example states its cycles and, where its task's baseline is known, its speedup; one
slower than its baseline says so in words, so a model does not copy a slow pattern believing
it good. Sections are bounded (`MAX_EXAMPLE_CHARS`): an example too long for what is left is
skipped whole, never cut (half a program teaches a syntax error).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

MAX_EXAMPLE_CHARS = 12_000
MAX_PAIR_CHARS = 10_000
MAX_PAIR_METRICS = 8


class ExampleLike(Protocol):
    """What an example needs; a `memory.Attempt` (a stored row) and an `Example` both have it."""

    task_key: str
    program: str
    cycles: int | None


@dataclass(frozen=True)
class Example:
    """A verified program of a similar task, as a prompt shows it (plain data, so a
    workflow can keep it in checkpointed state)."""

    task_key: str
    program: str
    cycles: int | None = None
    task_description: str = ""
    baseline_cycles: int | None = None

    @classmethod
    def of(cls, attempt: ExampleLike) -> Example:
        return cls(
            attempt.task_key,
            attempt.program,
            attempt.cycles,
            getattr(attempt, "task_description", "") or "",
            getattr(attempt, "baseline_cycles", None),
        )


def speed_note(cycles: int | None, baseline: int | None) -> str:
    """What an example's heading says of its speed: its cycles, and its speedup over its
    task's baseline, or in words that it is slower than that baseline."""
    if cycles is None:
        return ""
    note = f", {cycles} cycles"
    if baseline and cycles:
        ratio = baseline / cycles
        if baseline == cycles:
            note += f", as fast as its baseline ({baseline} cycles)"
        elif ratio > 1:
            note += f", {ratio:.3g}x faster than its baseline ({baseline} cycles)"
        else:
            note += (
                f", SLOWER than its baseline ({baseline} cycles, {ratio:.3g}x):"
                " correct, but do not copy its schedule for speed"
            )
    return note


def render_examples(examples: Sequence[ExampleLike]) -> str:
    """Verified programs of similar tasks, in the order given (memory's: most similar
    first, each task's best program); empty if none."""
    if not examples:
        return ""
    parts = [
        "",
        "## Verified programs for similar tasks",
        "",
        "These passed the verifier (each is the fastest known for its task); reuse their"
        " patterns where they fit.",
        "",
    ]
    budget = MAX_EXAMPLE_CHARS
    for example in examples:
        program = example.program.strip("\n")
        if len(program) > budget:  # keep the prompt bounded; a shorter one may still fit
            continue
        budget -= len(program)
        baseline = getattr(example, "baseline_cycles", None)
        description = getattr(example, "task_description", "") or ""
        parts.append(f"### {example.task_key}{speed_note(example.cycles, baseline)}")
        if description:
            parts.append(description.strip().splitlines()[0])
        parts += ["```python", program, "```", ""]
    return "\n".join(parts)


def pair_of(pair: Any) -> dict[str, Any]:
    """A `memory.recall.ImprovementPair` as plain data (checkpointed state holds it)."""

    def side(attempt: Any) -> dict[str, Any]:
        return {
            "program": attempt.program,
            "cycles": attempt.cycles,
            "bottleneck": attempt.bottleneck,
            "metrics": dict(attempt.metrics),
        }

    return {
        "task_key": pair.faster.task_key,
        "baseline_cycles": pair.faster.baseline_cycles,
        "slower": side(pair.slower),
        "faster": side(pair.faster),
    }


def render_pair(pair: Mapping[str, Any] | None) -> str:
    """The improvement pair as a prompt section (`pair_of`'s data); empty if none or too
    long to show whole."""
    if not pair:
        return ""
    slower, faster = pair["slower"], pair["faster"]
    programs = [slower["program"].strip("\n"), faster["program"].strip("\n")]
    if sum(map(len, programs)) > MAX_PAIR_CHARS:
        return ""
    baseline = pair.get("baseline_cycles")
    parts = [
        "",
        f"## How a similar program was made faster ({pair['task_key']})",
        "",
    ]
    for title, side, program in (
        ("Before", slower, programs[0]),
        ("After", faster, programs[1]),
    ):
        parts.append(f"### {title}{speed_note(side['cycles'], baseline)}")
        if side.get("bottleneck"):
            parts.append(f"simulator: bottleneck {' '.join(str(side['bottleneck']).split())}")
        numbers = [
            f"{k}={v:.3g}"
            for k, v in sorted(side.get("metrics", {}).items())
            if isinstance(v, int | float) and not isinstance(v, bool)
        ][:MAX_PAIR_METRICS]
        if numbers:
            parts.append("metrics: " + ", ".join(numbers))
        parts += ["```python", program, "```", ""]
    return "\n".join(parts)
