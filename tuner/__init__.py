"""BaCO-style Bayesian optimisation of a black box over typed, constrained parameter spaces.

Knows nothing of dialects: a caller declares a ``Space`` of parameters (real, integer, ordinal,
categorical, permutation) with known constraints as expressions, and an objective returning
``(value, feasible)``; ``tune`` returns the best configuration and the history.
"""

from tuner.errors import HistoryError, SpaceError, TunerError
from tuner.history import Evaluation
from tuner.params import Categorical, Integer, Ordinal, Permutation, Real
from tuner.search import SearchSettings
from tuner.space import Space
from tuner.tuner import Tuner, TuneResult, tune

__all__ = [
    "Categorical",
    "Evaluation",
    "HistoryError",
    "Integer",
    "Ordinal",
    "Permutation",
    "Real",
    "SearchSettings",
    "Space",
    "SpaceError",
    "TuneResult",
    "Tuner",
    "TunerError",
    "tune",
]
