"""Token and cost accounting for a run, and the run's budget.

`CostMeter.wrap(model)` gives a model with the same interface that checks the budget
before each call and records each reply. Parallel samples share one meter, so the check
counts calls already in flight: a call is refused when the money spent plus the expected
cost of every running call and this one would pass `max_cost_usd`. The expected cost of a
call is the mean cost of the calls finished so far (nothing is known before the first
reply, so the first call is always allowed while nothing has been spent over budget).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agents.models.base import BudgetExceeded, Model, Reply

if TYPE_CHECKING:
    from benchmarks.task import Task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallRecord:
    """One finished call, as counted."""

    model: str
    task: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    seconds: float
    cost_known: bool


@dataclass(frozen=True)
class Usage:
    """Totals over some calls."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> dict[str, float | int]:
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tokens": self.tokens,
            "cost_usd": round(self.cost_usd, 6),
            "seconds": round(self.seconds, 3),
        }


def _sum(records: list[CallRecord]) -> Usage:
    return Usage(
        calls=len(records),
        prompt_tokens=sum(r.prompt_tokens for r in records),
        completion_tokens=sum(r.completion_tokens for r in records),
        cost_usd=sum(r.cost_usd for r in records),
        seconds=sum(r.seconds for r in records),
    )


class CostMeter:
    """Counts every call of a run; refuses calls that would pass the budget (thread-safe)."""

    def __init__(self, max_cost_usd: float | None = None, *, spent_before_usd: float = 0.0) -> None:
        """`spent_before_usd`: what a resumed run already spent; it counts against the
        budget (but not in this meter's totals)."""
        if max_cost_usd is not None and max_cost_usd < 0:
            raise ValueError(f"max_cost_usd must be >= 0, got {max_cost_usd}")
        if spent_before_usd < 0:
            raise ValueError(f"spent_before_usd must be >= 0, got {spent_before_usd}")
        self.max_cost_usd = max_cost_usd
        self.spent_before_usd = spent_before_usd
        self._records: list[CallRecord] = []
        self._in_flight = 0
        self._lock = threading.Lock()

    # -- budget

    def reserve(self) -> None:
        """Claim room for one call, or raise `BudgetExceeded` (then nothing is claimed)."""
        with self._lock:
            if self.max_cost_usd is not None:
                spent_now = sum(r.cost_usd for r in self._records)
                expected = spent_now / len(self._records) if self._records else 0.0
                spent = self.spent_before_usd + spent_now
                projected = spent + expected * (self._in_flight + 1)
                if spent > self.max_cost_usd or projected > self.max_cost_usd + 1e-12:
                    raise BudgetExceeded(
                        f"budget ${self.max_cost_usd:.4f} reached: spent ${spent:.4f},"
                        f" a call costs about ${expected:.4f}"
                        f" ({self._in_flight} already running)"
                    )
            self._in_flight += 1

    def release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def record(self, reply: Reply, task_key: str = "") -> CallRecord:
        record = CallRecord(
            model=reply.model,
            task=task_key,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            cost_usd=reply.cost_usd,
            seconds=reply.seconds,
            cost_known=reply.cost_known,
        )
        with self._lock:
            first_unpriced = not reply.cost_known and all(
                r.cost_known or r.model != reply.model for r in self._records
            )
            self._records.append(record)
        if first_unpriced and self.max_cost_usd is not None:
            log.warning(
                "%s has no known price: its calls count as $0, so --max-cost cannot limit them",
                reply.model,
            )
        return record

    def wrap(self, model: Model) -> MeteredModel:
        return MeteredModel(model, self)

    # -- reading

    @property
    def records(self) -> list[CallRecord]:
        with self._lock:
            return list(self._records)

    @property
    def total(self) -> Usage:
        return _sum(self.records)

    def for_task(self, task_key: str) -> Usage:
        return _sum([r for r in self.records if r.task == task_key])

    @property
    def unpriced_models(self) -> list[str]:
        """Models whose price litellm did not know (their cost was counted as 0)."""
        return sorted({r.model for r in self.records if not r.cost_known})

    @property
    def remaining_usd(self) -> float | None:
        if self.max_cost_usd is None:
            return None
        return max(0.0, self.max_cost_usd - self.spent_before_usd - self.total.cost_usd)


class MeteredModel:
    """A model whose calls go through a `CostMeter` (same interface as the model)."""

    def __init__(self, model: Model, meter: CostMeter) -> None:
        self.model = model
        self.meter = meter
        self.name = model.name

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.7,
        max_tokens: int = 4096,
        task: Task | None = None,
    ) -> Reply:
        self.meter.reserve()
        try:
            reply = self.model.complete(
                messages, temperature=temperature, max_tokens=max_tokens, task=task
            )
        finally:
            self.meter.release()
        self.meter.record(reply, task.key if task is not None else "")
        return reply
