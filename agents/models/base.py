"""What every model backend promises: messages in, one `Reply` out, or a `ModelError`.

Backends differ in where the text comes from (a provider through litellm, a JSONL script,
the dialects' builtin compilers, a person answering files), never in what they return, so
the solve workflow treats them all alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from benchmarks.task import Task


@dataclass(frozen=True)
class Reply:
    """One completion. `cost_known` is False when the provider's price is unknown and
    `cost_usd` was counted as 0 (the run summary says so instead of claiming it was free);
    `tokens_estimated` is True when no provider counted the tokens."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    cost_known: bool = True
    tokens_estimated: bool = False  # counted from the text (queue backend), not reported
    refusal: str | None = None  # the model declined the task, whole reason (builtin compilers)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ModelError(Exception):
    """A model could not give a reply: provider failure after retries, bad configuration,
    a scripted or queued exchange that ran out. The message is one line."""


class ModelConfigError(ModelError):
    """The model cannot be used at all (unknown name, missing or refused key, no access):
    every further call would fail the same way, so the run stops instead of failing each
    attempt."""


class BudgetExceeded(Exception):
    """The run's cost budget does not allow another call.

    Deliberately not a `ModelError`: a failed call becomes a failed attempt, but running
    out of budget must stop the whole run (cleanly, keeping what was found).
    """


class Model(Protocol):
    """A source of completions. `task` lets offline backends (builtin, queue) know what is
    being asked without parsing the prompt; network backends ignore it."""

    name: str

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.7,
        max_tokens: int = 4096,
        task: Task | None = None,
    ) -> Reply: ...


def one_line(text: object, limit: int = 300) -> str:
    """Squash an exception message or provider text onto one bounded line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
