"""Seeded input generators named in task files (`init = { kind = "normal", std = 0.5 }`).

Tasks with correlated inputs (CSR offsets and indices, routing tables from traces) name a
generator function in their suite's module instead; this library covers the independent
cases so that task files stay declarative.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class GeneratorError(ValueError):
    """An `init` table that names an unknown kind or carries a bad argument."""


def _normal(
    rng: np.random.Generator, shape: tuple[int, ...], mean: float = 0.0, std: float = 1.0
) -> np.ndarray:
    return rng.normal(mean, std, size=shape)


def _uniform(
    rng: np.random.Generator, shape: tuple[int, ...], low: float = 0.0, high: float = 1.0
) -> np.ndarray:
    return rng.uniform(low, high, size=shape)


def _randint(
    rng: np.random.Generator, shape: tuple[int, ...], low: int = 0, high: int = 2
) -> np.ndarray:
    return rng.integers(low, high, size=shape)


def _sparse(
    rng: np.random.Generator, shape: tuple[int, ...], density: float = 0.1, std: float = 1.0
) -> np.ndarray:
    """Dense array with about `density` non-zeros (zeros mean absent in sparse formats)."""
    values = rng.normal(0.0, std, size=shape)
    values[values == 0.0] = 1.0
    return np.where(rng.random(shape) < density, values, 0.0)


def _zipf(
    rng: np.random.Generator, shape: tuple[int, ...], n: int = 1000, alpha: float = 1.05
) -> np.ndarray:
    """Indices in [0, n) with Zipf-distributed popularity (FBGEMM-style embedding traffic)."""
    ranks = np.arange(1, n + 1, dtype=np.float64)
    p = ranks ** (-alpha)
    p /= p.sum()
    permutation = rng.permutation(n)  # popular rows are scattered over the table
    return permutation[rng.choice(n, size=shape, p=p)]


def _zeros(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros(shape)


def _ones(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.ones(shape)


GENERATORS: dict[str, Callable[..., np.ndarray]] = {
    "normal": _normal,
    "uniform": _uniform,
    "randint": _randint,
    "sparse": _sparse,
    "zipf": _zipf,
    "zeros": _zeros,
    "ones": _ones,
}


def generate(
    init: dict[str, Any], shape: tuple[int, ...], dtype: str, rng: np.random.Generator
) -> np.ndarray:
    """One input array as an `init` table describes it."""
    args = dict(init)
    kind = args.pop("kind", "normal")
    fn = GENERATORS.get(kind)
    if fn is None:
        raise GeneratorError(f"unknown init kind {kind!r}; known: {', '.join(GENERATORS)}")
    try:
        array = fn(rng, shape, **args)
    except TypeError as exc:
        raise GeneratorError(f"init kind {kind!r}: {exc}") from None
    return np.asarray(array).astype(dtype, copy=False)
