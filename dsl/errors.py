"""Errors raised while building or validating a dialect program.

They carry one-line messages meant for both people and models: which op, which port,
what disagreed. `ProgramError` also records where in the user's program it happened.
"""

from __future__ import annotations


class DialectError(Exception):
    """Base class of every error a dialect raises about a program."""


class ProgramError(DialectError):
    """A builder call rejected its arguments (raised while the program runs).

    `line` is filled in by `trace` helpers or the sandbox harness from the traceback when
    the builder itself does not know it.
    """

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class ValidationError(DialectError):
    """IR coming back from the sandbox breaks a rule of its dialect."""


class NotCovered(DialectError):
    """The builtin compiler cannot lower this task (the reason says why)."""
