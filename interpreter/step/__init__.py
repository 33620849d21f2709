"""Trusted STeP backend: functional semantics and the cycle simulator (`BACKEND`)."""

from __future__ import annotations

from interpreter.step import costs  # noqa: F401  (registers every op's cost rule)
from interpreter.step.backend import BACKEND

__all__ = ["BACKEND"]
