"""BaCO-style Bayesian optimisation of a black box over typed, constrained parameter spaces.

Knows nothing of dialects: a caller declares a ``Space`` of parameters (real, integer, ordinal,
categorical, permutation) with known constraints as expressions, and an objective returning
``(value, feasible)``; ``tune`` returns the best configuration and the history.

The names are loaded on first use: the surrogate pulls in torch, which a caller that only
builds a space (the CLI checking a program's declaration) should not pay for.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "HistoryError": "tuner.errors",
    "SpaceError": "tuner.errors",
    "TunerError": "tuner.errors",
    "Evaluation": "tuner.history",
    "Categorical": "tuner.params",
    "Integer": "tuner.params",
    "Ordinal": "tuner.params",
    "Permutation": "tuner.params",
    "Real": "tuner.params",
    "SearchSettings": "tuner.search",
    "Space": "tuner.space",
    "TuneResult": "tuner.tuner",
    "Tuner": "tuner.tuner",
    "tune": "tuner.tuner",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'tuner' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
