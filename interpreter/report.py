"""What a cycle simulation reports, the same for every dialect."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SimReport:
    """Result of one simulated run.

    `floor_cycles` is the roofline floor of this run (larger of FLOPs over peak compute and
    minimum off-chip bytes over bandwidth), counted apart from the timing pass: a `cycles`
    below it means the simulator is wrong, and the verifier rejects the result.
    `bottleneck` is one or two sentences an LLM can act on.
    """

    cycles: int
    floor_cycles: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    bottleneck: str = ""
    per_op: dict[str, dict[str, float]] = field(default_factory=dict)
    timeline: list[tuple[str, int, int]] = field(default_factory=list)
    # What the program used of the target's budget, under the `[budget]` table's names.
    resources: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "cycles": int(self.cycles),
            "floor_cycles": float(self.floor_cycles),
            "metrics": {k: float(v) for k, v in self.metrics.items()},
            "bottleneck": self.bottleneck,
            "per_op": self.per_op,
            "resources": {k: float(v) for k, v in self.resources.items()},
        }
