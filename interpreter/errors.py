"""Errors raised on the trusted side while running or simulating a program."""

from __future__ import annotations


class ExecutionError(Exception):
    """The program's IR was valid but running it failed: deadlock, protocol mismatch,
    out-of-bounds access. The message names the op."""


class SimulationError(Exception):
    """The cycle simulator could not time a program it was able to execute."""
