"""The one error hierarchy every dialect raises about a program.

Every error takes the same arguments in the same order: the `reason` (what disagreed),
then, by keyword only, where it happened: `where` (the node, e.g. "node 3 (map, line 7)"),
`port` (the input or attribute that disagreed) and `line` (the user's program line).
`str()` puts the location first, so one line tells a person or a model what and where.

`RuleError` is what a shape/type rule raises; it does not know the node it runs for. The
builder turns it into a `ProgramError` (the user's line) and the IR loader into a
`ValidationError` (the node), both through `RuleError.located`.
"""

from __future__ import annotations


class DialectError(Exception):
    """Base class of every error a dialect raises about a program.

    `reason` is the bare complaint; `message` adds the node and port (what the sandbox
    reports beside a separate line number); `str()` adds the line as well.
    """

    def __init__(
        self,
        reason: str,
        *,
        where: str | None = None,
        port: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.where = where
        self.port = port
        self.line = line

    @property
    def message(self) -> str:
        """`node 3 (map) input 'x': <reason>` (no line)."""
        place = " ".join(p for p in (self.where, f"input {self.port!r}" if self.port else "") if p)
        return f"{place}: {self.reason}" if place else self.reason

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class ProgramError(DialectError):
    """A builder call rejected its arguments (raised while the program runs).

    `line` is filled in by the builder, a `trace` helper or the sandbox harness (from the
    traceback) when the builder itself does not know it.
    """


class ValidationError(DialectError):
    """IR coming back from the sandbox breaks a rule of its dialect."""


class NotCovered(DialectError):
    """The builtin compiler cannot lower this task (the message says why)."""


class RuleError(DialectError, ValueError):
    """A shape/type rule rejected its inputs; `port` names the input (or None).

    A `ValueError` too, so code that treats malformed values alike keeps working.
    """

    def __init__(self, message: str, port: str | None = None) -> None:
        super().__init__(message, port=port)

    def located(
        self, cls: type[DialectError], where: str | None = None, line: int | None = None
    ) -> DialectError:
        """The same complaint as a `cls` (ProgramError / ValidationError) at `where`."""
        return cls(self.reason, where=where, port=self.port, line=line)
