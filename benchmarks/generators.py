"""Seeded input generators named in task files (`init = { kind = "normal", std = 0.5 }`).

Tasks with correlated inputs (CSR offsets and indices, routing tables from traces) name a
generator function in their suite's module instead; this library covers the independent
cases so that task files stay declarative.

Random draws alone rarely contain the inputs that separate a correct kernel from a sloppy
one, so an `init` table can also plant them in every draw (each check then has them):
- `rows = ["zero", "tiny", "huge"]` replaces one randomly placed row (a vector along the last
  axis) per name: all zeros (a norm without `eps` divides by zero), scaled by `TINY` (a mean
  square of about 1e-6, below the 1e-5 `eps` of the norm tasks, so the value of `eps`
  decides the output), or scaled by `HUGE` (`exp` overflows float32 unless a softmax
  subtracts the row maximum first);
- `empty_rows = n` (kind `sparse`) empties n randomly placed slices along the first axis
  (empty fibers at the top level of a sparse format).
"""

from __future__ import annotations

import inspect
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


def _plant_rows(rng: np.random.Generator, array: np.ndarray, kinds: list[str]) -> np.ndarray:
    """`array` with one randomly placed row per entry of `kinds` replaced (see the module doc)."""
    if array.ndim == 0:
        raise GeneratorError("rows: a scalar has no rows")
    rows = array.reshape(-1, array.shape[-1]).copy()
    chosen = rng.choice(len(rows), size=min(len(kinds), len(rows)), replace=False)
    for kind, row in zip(kinds, chosen, strict=False):
        rows[row] *= ROW_KINDS[kind]
    return rows.reshape(array.shape)


def _empty_rows(rng: np.random.Generator, array: np.ndarray, n: int) -> np.ndarray:
    if array.ndim == 0:
        raise GeneratorError("empty_rows: a scalar has no rows")
    out = array.copy()
    out[rng.choice(len(out), size=min(n, len(out)), replace=False)] = 0.0
    return out


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


TINY = 1e-3
HUGE = 40.0
ROW_KINDS = {"zero": 0.0, "tiny": TINY, "huge": HUGE}
"""Factor a planted row is multiplied by (the rows are drawn by the table's kind first)."""

GENERATORS: dict[str, Callable[..., np.ndarray]] = {
    "normal": _normal,
    "uniform": _uniform,
    "randint": _randint,
    "sparse": _sparse,
    "zipf": _zipf,
    "zeros": _zeros,
    "ones": _ones,
}


def _parse(init: dict[str, Any]) -> tuple[Callable[..., np.ndarray], dict, list[str], int]:
    """Split an `init` table into its kind's function and arguments, the rows to plant and
    the number of rows to empty; raises GeneratorError naming what is wrong."""
    args = dict(init)
    kind = args.pop("kind", "normal")
    rows = args.pop("rows", [])
    empty = args.pop("empty_rows", 0)
    fn = GENERATORS.get(kind)
    if fn is None:
        raise GeneratorError(f"unknown init kind {kind!r}; known: {', '.join(GENERATORS)}")
    try:
        inspect.signature(fn).bind(None, (), **args)
    except TypeError as exc:
        raise GeneratorError(f"init kind {kind!r}: {exc}") from None
    if not isinstance(rows, list) or not all(isinstance(r, str) for r in rows):
        raise GeneratorError(f"init kind {kind!r}: rows must be a list of names, got {rows!r}")
    unknown = sorted(set(rows) - set(ROW_KINDS))
    if unknown:
        raise GeneratorError(f"rows: unknown row kinds {unknown}; known: {', '.join(ROW_KINDS)}")
    if not isinstance(empty, int) or isinstance(empty, bool) or empty < 0:
        raise GeneratorError(f"init kind {kind!r}: empty_rows must be an int >= 0, got {empty!r}")
    if empty and kind != "sparse":
        raise GeneratorError(f"init kind {kind!r}: empty_rows only applies to kind 'sparse'")
    return fn, args, rows, empty


def check_init(init: dict[str, Any]) -> None:
    """Raise GeneratorError if `init` cannot be drawn (the task loader calls this)."""
    _parse(init)


def generate(
    init: dict[str, Any], shape: tuple[int, ...], dtype: str, rng: np.random.Generator
) -> np.ndarray:
    """One input array as an `init` table describes it."""
    fn, args, rows, empty = _parse(init)
    array = np.asarray(fn(rng, shape, **args))
    if rows:
        array = _plant_rows(rng, array, rows)
    if empty:
        array = _empty_rows(rng, array, empty)
    return array.astype(dtype, copy=False)
