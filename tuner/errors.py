"""The tuner's errors: each is one line a user can act on, naming the parameter, expression or
file at fault, so the CLI can print it without a traceback."""

from __future__ import annotations


class TunerError(Exception):
    """Any fault of a tuning run that the user caused (bad space, bad objective value, bad file)."""


class SpaceError(TunerError, ValueError):
    """A bad parameter domain or constraint expression; the message names the parameter or
    expression."""


class HistoryError(TunerError):
    """A history file that cannot be resumed from; the message names the file and line."""
