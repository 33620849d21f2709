"""The DAE target as the simulator reads it: the checked dataclass of `interpreter.core.targets`.

Callers hand the backend a loaded TOML table (tests override a key with
`{**target, "budget": {...}}`); it is checked and typed once per call here, so the cost
rules read `target.execute.pop_cycles` rather than indexing a dict, and a bad value is
refused in one line naming its key before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interpreter.core.targets import DaeTarget, typed
from interpreter.errors import SimulationError


def dae_target(target: Mapping[str, Any] | DaeTarget) -> DaeTarget:
    """The typed form of a DAE target table (one already typed is returned as is)."""
    if isinstance(target, DaeTarget):
        return target
    return typed(target, dialect="dae")  # type: ignore[return-value]


def budget_entry(target: DaeTarget, key: str) -> float:
    """A `[budget]` amount the simulator sizes a structure by (a queue, the miss slots, a
    cache): the typed budget is an open table, so its presence and minimum are checked here."""
    value = target.budget.get(key)
    if value is None:
        raise SimulationError(f"target {target.name!r}: missing [budget] {key}")
    if value < 1:
        raise SimulationError(f"target {target.name!r}: [budget] {key} must be >= 1, got {value}")
    return value
