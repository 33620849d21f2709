"""The outcome of verifying one program on one task (see DESIGN section 6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATUSES = ("passed", "incorrect", "invalid", "error", "timeout", "rejected")


def one_line(text: object, limit: int = 500) -> str:
    """Squash text to one line of at most `limit` characters (verdicts reach models)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass
class Verdict:
    """What the verifier decided, and what it measured.

    `feedback` is the text a model reads: it names held-out sizes only as "a held-out size"
    and never shows the values of a timed input. `seed` and `dims` are for the user: the
    input seed and the exact dims of the run that failed, so that `agent eval TASK PROGRAM
    --seed SEED` replays that check (a passed verdict gives the timed run's dims, and no
    seed: in a solve run the timing seed is the run's secret).
    """

    task: str
    status: str
    feedback: str
    cycles: int | None = None
    floor_cycles: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    bottleneck: str = ""
    per_op: dict[str, dict[str, float]] = field(default_factory=dict)
    timeline: list[tuple[str, int, int]] = field(default_factory=list)
    resources: dict[str, float] = field(default_factory=dict)
    sandbox: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    runs: int = 0
    seed: int | None = None
    dims: dict[str, int] | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown verdict status {self.status!r}")

    @property
    def correct(self) -> bool:
        return self.status == "passed"

    def to_json(self, timeline_limit: int = 2000) -> dict[str, Any]:
        return {
            "task": self.task,
            "status": self.status,
            "correct": self.correct,
            "cycles": self.cycles,
            "floor_cycles": self.floor_cycles,
            "feedback": self.feedback,
            "bottleneck": self.bottleneck,
            "metrics": self.metrics,
            "per_op": self.per_op,
            "timeline": [list(t) for t in self.timeline[:timeline_limit]],
            "resources": self.resources,
            "sandbox": self.sandbox,
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "runs": self.runs,
            "seed": self.seed,
            "dims": self.dims,
        }
