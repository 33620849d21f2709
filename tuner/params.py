"""Parameter types of a tuning space: real, integer, ordinal, categorical and permutation.

Each type knows four things the tuner needs and nothing about kernels: its finite values (when
it has them, for the chain of trees), a uniform draw, an encoding in [0, 1] features for the
GP, and its neighbours for local search. Ordered types (real, integer, ordinal) may be searched
on a log scale, which suits tile sizes and vector lengths whose effect is multiplicative.
Permutations are tuples of their items (``0..n-1`` unless named); they are never enumerated unless ``n!`` is small, and
their encoding is Spearman (positions, the default and BaCO's choice), Kendall (pairwise order)
or Hamming (one-hot position/element).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tuner.errors import SpaceError

ENCODINGS = ("spearman", "kendall", "hamming")
# Neighbour draws for a real parameter and their spread on the [0, 1] scale (BaCO's values).
_REAL_NEIGHBOURS = 6
_REAL_STEP = 0.03


def _check_name(name: str) -> None:
    if not name.isidentifier():
        raise SpaceError(f"parameter {name!r}: the name must be an identifier")


def _scale(value: float, low: float, high: float, log: bool) -> float:
    if log:
        value, low, high = math.log10(value), math.log10(low), math.log10(high)
    return 0.0 if high == low else (value - low) / (high - low)


@dataclass(frozen=True)
class Real:
    """A real number in ``[low, high]``."""

    name: str
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise SpaceError(f"parameter {self.name!r}: needs finite low < high")
        if self.log and self.low <= 0:
            raise SpaceError(f"parameter {self.name!r}: a log scale needs low > 0")

    width = 1
    size = None

    def values(self) -> None:
        return None

    def contains(self, value: Any) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(10 ** rng.uniform(math.log10(self.low), math.log10(self.high)))
        return float(rng.uniform(self.low, self.high))

    def encode(self, value: float) -> list[float]:
        return [_scale(value, self.low, self.high, self.log)]

    def _unscale(self, unit: float) -> float:
        if self.log:
            lo, hi = math.log10(self.low), math.log10(self.high)
            return float(min(max(10 ** (lo + unit * (hi - lo)), self.low), self.high))
        return float(self.low + unit * (self.high - self.low))

    def neighbour_rays(self, value: float, rng: np.random.Generator) -> list[Iterator[Any]]:
        unit = self.encode(value)[0]
        draws = np.clip(rng.normal(unit, _REAL_STEP, _REAL_NEIGHBOURS), 0.0, 1.0)
        return [iter([self._unscale(float(d))]) for d in draws]

    def to_json(self, value: Any) -> Any:
        return value

    def from_json(self, value: Any) -> Any:
        return value


class _Choices:
    """What a parameter with a finite tuple of `choices` does the same way, ordered or not."""

    choices: tuple[Any, ...]

    @property
    def size(self) -> int:
        return len(self.choices)

    def values(self) -> Sequence[Any]:
        return self.choices

    def contains(self, value: Any) -> bool:
        return value in self.choices

    def sample(self, rng: np.random.Generator) -> Any:
        return self.choices[int(rng.integers(len(self.choices)))]

    def to_json(self, value: Any) -> Any:
        return value

    def from_json(self, value: Any) -> Any:
        return value


@dataclass(frozen=True)
class Ordinal(_Choices):
    """One of an ordered list of numbers (for example the powers of two 16..256)."""

    name: str
    choices: tuple[float, ...]
    log: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not self.choices or not all(isinstance(c, int | float) for c in self.choices):
            raise SpaceError(f"parameter {self.name!r}: needs a non-empty list of numbers")
        if len(set(self.choices)) != len(self.choices):
            raise SpaceError(f"parameter {self.name!r}: repeated values")
        if self.log and min(self.choices) <= 0:
            raise SpaceError(f"parameter {self.name!r}: a log scale needs positive values")
        object.__setattr__(self, "choices", tuple(sorted(self.choices)))

    width = 1

    def encode(self, value: Any) -> list[float]:
        return [_scale(value, self.choices[0], self.choices[-1], self.log)]

    def neighbour_rays(self, value: Any, rng: np.random.Generator) -> list[Iterator[Any]]:
        # A ray walks outward one step at a time, so the space can skip infeasible values and
        # land on the nearest feasible one (a divisibility constraint leaves gaps).
        i = self.choices.index(value)
        return [iter(self.choices[i + 1 :]), iter(reversed(self.choices[:i]))]


@dataclass(frozen=True)
class Integer(Ordinal):
    """An integer in ``[low, high]``; an ordinal whose values are a range, never listed."""

    choices: tuple[float, ...] = ()
    low: int = 0
    high: int = 0

    def __init__(self, name: str, low: int, high: int, log: bool = False) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "log", log)
        _check_name(name)
        if not (isinstance(low, int) and isinstance(high, int) and low <= high):
            raise SpaceError(f"parameter {name!r}: needs integers low <= high")
        if log and low <= 0:
            raise SpaceError(f"parameter {name!r}: a log scale needs low > 0")
        object.__setattr__(self, "choices", range(low, high + 1))

    def __repr__(self) -> str:
        return f"Integer({self.name!r}, {self.low}, {self.high}, log={self.log})"

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
        )

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high + 1))

    def neighbour_rays(self, value: Any, rng: np.random.Generator) -> list[Iterator[Any]]:
        return [iter(range(value + 1, self.high + 1)), iter(range(value - 1, self.low - 1, -1))]


@dataclass(frozen=True)
class Categorical(_Choices):
    """One of an unordered set of values; encoded one-hot so no order is implied."""

    name: str
    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not self.choices:
            raise SpaceError(f"parameter {self.name!r}: needs at least one value")
        if len(set(self.choices)) != len(self.choices):
            raise SpaceError(f"parameter {self.name!r}: repeated values")
        object.__setattr__(self, "choices", tuple(self.choices))

    @property
    def width(self) -> int:
        return len(self.choices)

    def encode(self, value: Any) -> list[float]:
        return [1.0 if c == value else 0.0 for c in self.choices]

    def neighbour_rays(self, value: Any, rng: np.random.Generator) -> list[Iterator[Any]]:
        return [iter([c]) for c in self.choices if c != value]


@dataclass(frozen=True)
class Permutation:
    """An order of ``n`` items: a tuple holding each of ``items`` once (e.g. a loop order
    ``("i", "k", "j")``); the items default to ``0..n-1``."""

    name: str
    n: int
    encoding: str = "spearman"
    items: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not isinstance(self.n, int) or self.n < 1:
            raise SpaceError(f"parameter {self.name!r}: a permutation needs n >= 1")
        if self.encoding not in ENCODINGS:
            raise SpaceError(
                f"parameter {self.name!r}: unknown encoding {self.encoding!r} "
                f"(one of {', '.join(ENCODINGS)})"
            )
        items = tuple(range(self.n)) if self.items is None else tuple(self.items)
        if len(items) != self.n or len(set(items)) != self.n:
            raise SpaceError(f"parameter {self.name!r}: needs {self.n} distinct items")
        object.__setattr__(self, "items", items)

    @property
    def size(self) -> int:
        return math.factorial(self.n)

    @property
    def width(self) -> int:
        n = self.n
        return {"spearman": n, "kendall": n * (n - 1) // 2, "hamming": n * n}[self.encoding]

    def values(self) -> Iterator[tuple[Any, ...]]:
        """All n! orders, lazily: only the chain of trees calls this, and only under its cap."""
        return itertools.permutations(self.items)

    def contains(self, value: Any) -> bool:
        try:
            return (
                isinstance(value, tuple) and len(value) == self.n and set(value) == set(self.items)
            )
        except TypeError:  # unhashable elements are no items of ours
            return False

    def sample(self, rng: np.random.Generator) -> tuple[Any, ...]:
        return tuple(self.items[int(i)] for i in rng.permutation(self.n))

    def encode(self, value: tuple[Any, ...]) -> list[float]:
        n = self.n
        index = {item: i for i, item in enumerate(self.items)}
        position = [0] * n
        for where, item in enumerate(value):
            position[index[item]] = where
        if self.encoding == "spearman":
            return [p / max(n - 1, 1) for p in position]
        if self.encoding == "kendall":
            return [
                1.0 if position[i] < position[j] else 0.0 for i in range(n) for j in range(i + 1, n)
            ]
        return [
            1.0 if index[value[where]] == element else 0.0
            for where in range(n)
            for element in range(n)
        ]

    def neighbour_rays(
        self, value: tuple[Any, ...], rng: np.random.Generator
    ) -> list[Iterator[Any]]:
        """Every order reached by swapping two positions: n(n-1)/2 neighbours."""
        rays = []
        for i, j in itertools.combinations(range(self.n), 2):
            swapped = list(value)
            swapped[i], swapped[j] = swapped[j], swapped[i]
            rays.append(iter([tuple(swapped)]))
        return rays

    def to_json(self, value: tuple[Any, ...]) -> list[Any]:
        return list(value)

    def from_json(self, value: Any) -> tuple[Any, ...]:
        return tuple(value) if isinstance(value, list) else value


Parameter = Real | Integer | Ordinal | Categorical | Permutation
