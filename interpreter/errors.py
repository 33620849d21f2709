"""Errors raised on the trusted side while running or simulating a program."""

from __future__ import annotations


class ExecutionError(Exception):
    """The program's IR was valid but running it failed: deadlock, protocol mismatch,
    out-of-bounds access. The message names the op."""


class SimulationError(Exception):
    """The cycle simulator could not time a program it was able to execute."""


class BudgetError(ExecutionError):
    """A program asks for more of a resource than its target has (compute units, on-chip
    bytes, lanes, queue depth...). The verifier reports it as `invalid`: speed bought with
    resources the chip does not have is not speed."""

    def __init__(self, resource: str, asked: float, budget: float, target: str) -> None:
        self.resource, self.asked, self.budget, self.target = resource, asked, budget, target
        super().__init__(
            f"the program needs {_amount(asked)} {resource}, but target {target!r}"
            f" has a budget of {_amount(budget)}"
        )


def _amount(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"
