"""Hardware budgets: what a target's chip has, and the check that a program stays within it.

Every target TOML has a `[budget]` table (resource name -> amount). A dialect's backend
counts what a program uses under the same names and calls `check_budget`; the verifier
reports the use beside the cycles. A resource missing from `[budget]` is unlimited.
"""

from __future__ import annotations

from collections.abc import Mapping

from interpreter.core.targets import Target
from interpreter.errors import BudgetError


def budget_of(target: Mapping | Target) -> dict[str, float]:
    """The target's budget table (resource -> amount), from a TOML table or a typed target."""
    table = target.budget if isinstance(target, Target) else target.get("budget", {})
    return {k: float(v) for k, v in dict(table).items()}


def check_budget(target: Mapping | Target, used: Mapping[str, float]) -> None:
    """Raise `BudgetError` for the first resource `used` beyond the target's budget."""
    budget = budget_of(target)
    name = target.name if isinstance(target, Target) else str(target.get("name", "?"))
    for resource, amount in used.items():
        limit = budget.get(resource)
        if limit is not None and float(amount) > limit:
            raise BudgetError(resource, float(amount), limit, name)


def describe_use(target: Mapping | Target, used: Mapping[str, float]) -> str:
    """One line of what a program used against the target's budget, for people and models:
    'compute_units 4 of 1040, onchip_bytes 184 KiB of 520 MiB'."""
    budget = budget_of(target)
    parts = []
    for resource, amount in used.items():
        limit = budget.get(resource)
        text = f"{resource} {_quantity(resource, amount)}"
        if limit is not None:
            text += f" of {_quantity(resource, limit)}"
        parts.append(text)
    return ", ".join(parts)


def _quantity(resource: str, value: float) -> str:
    value = float(value)
    if resource.endswith("bytes"):
        for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if value >= size:
                return f"{value / size:.4g} {unit}"
        return f"{value:.0f} B"
    return str(int(value)) if value.is_integer() else f"{value:.4g}"
