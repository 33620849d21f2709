"""The compiled LRU hierarchy (`cache_kernel.LRU`) against `replay`'s `OrderedDict` loop:
identical levels on random request sequences, so which one runs never shows in a report."""

from __future__ import annotations

import numpy as np
import pytest

from interpreter.dae import cache_model
from interpreter.dae.cache_kernel import LRU, lru_levels
from interpreter.dae.cache_model import Requests, replay


def _sequence(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """Lines (no two neighbours equal, as `replay` passes them), non-temporal flags, and
    capacities from one line each up to more than the lines touched."""
    lines = rng.integers(0, rng.integers(1, 120), rng.integers(1, 1500))
    lines = lines[np.concatenate([[True], lines[1:] != lines[:-1]])]
    nontemporal = rng.random(len(lines)) < rng.choice([0.0, 0.3, 1.0])
    capacities = tuple(int(c) for c in np.sort(rng.integers(1, 80, 3)))
    return lines * 64 + 7, nontemporal, capacities  # sparse line numbers, as in a program


@pytest.mark.parametrize("kernel", ["plain", "compiled"])
def test_the_kernel_gives_the_ordered_dict_levels(kernel) -> None:
    run = lru_levels if kernel == "plain" else LRU.compiled()
    rng = np.random.default_rng(11)
    for _ in range(40 if kernel == "plain" else 300):
        lines, nontemporal, capacities = _sequence(rng)
        expected = cache_model._lru_levels(lines.tolist(), nontemporal.tolist(), capacities)
        distinct, ids = np.unique(lines, return_inverse=True)
        got = run(ids, nontemporal, np.array(capacities), len(distinct))
        np.testing.assert_array_equal(got, expected)


def test_replay_takes_the_compiled_kernel_once_it_is_compiled(monkeypatch) -> None:
    """Requests with repeats (L1 hits `replay` settles itself) replay the same either way."""
    rng = np.random.default_rng(5)
    line = rng.integers(0, 40, 3000)
    nontemporal = rng.random(3000) < 0.2
    levels = {}
    for compiled in (False, True):
        monkeypatch.setattr(LRU, "_compiled", LRU.compiled() if compiled else None)
        monkeypatch.setattr(LRU, "compile_from", 10**9)
        monkeypatch.setattr(LRU, "once_loaded_from", 10**9)
        zeros = np.zeros(len(line), dtype=np.int64)
        req = Requests(zeros, zeros - 1, line, nontemporal, zeros.copy(), zeros - 1, zeros - 1)
        replay(req, (4, 12, 30))
        levels[compiled] = req.level
    assert set(np.unique(levels[False])) == {1, 2, 3, 4}
    np.testing.assert_array_equal(levels[True], levels[False])
