"""The outcome of one sandboxed build, as every caller sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STATUSES = ("ok", "invalid", "error", "timeout", "rejected")


@dataclass(frozen=True)
class BuildResult:
    """What came out of the sandbox.

    status: "ok" (ir holds the IR), "invalid" (a builder raised `dsl.errors.ProgramError`),
    "error" (the program's Python failed, or the process ended oddly), "timeout" (wall or CPU
    time ran out), "rejected" (a policy was broken: forbidden import, a resource limit,
    oversized, repeated, missing or malformed IR).
    message: one line, "filename:line: what" when the line is known.
    """

    status: str
    ir: dict[str, Any] | None
    message: str
    line: int | None
    backend: str
    seconds: float
    stderr: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown build status {self.status!r}")

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def one_line(text: str, limit: int = 500) -> str:
    """Squash text to one line of at most `limit` characters (messages reach models)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
