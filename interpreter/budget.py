"""Hardware budgets: what a target's chip has, and the check that a program stays within it.

Every target TOML has a `[budget]` table (resource name -> amount). A dialect's backend
counts what a program uses under the same names and calls `check_budget`; the verifier
reports the use beside the cycles. A resource missing from `[budget]` is unlimited.
"""

from __future__ import annotations

from collections.abc import Mapping

from interpreter.errors import BudgetError


def budget_of(target: Mapping) -> dict[str, float]:
    """The target's budget table (resource -> amount)."""
    return {k: float(v) for k, v in dict(target.get("budget", {})).items()}


def check_budget(target: Mapping, used: Mapping[str, float]) -> None:
    """Raise `BudgetError` for the first resource `used` beyond the target's budget."""
    budget = budget_of(target)
    for resource, amount in used.items():
        limit = budget.get(resource)
        if limit is not None and float(amount) > limit:
            raise BudgetError(resource, float(amount), limit, str(target.get("name", "?")))
