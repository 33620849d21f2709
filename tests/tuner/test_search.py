"""The acquisition and its maximiser, with a known score function in place of the GP."""

from __future__ import annotations

import numpy as np

from tuner.params import Integer, Permutation
from tuner.search import SearchSettings, acquisition, draw_threshold, maximise
from tuner.space import Space

TARGET = (3, 1, 0, 2)


def space() -> Space:
    return Space([Integer("a", 1, 30), Integer("b", 1, 30), Permutation("p", 4)], ["a + b <= 40"])


def score(configs: list[dict]) -> np.ndarray:
    """Peaks at a=17, b=23 (on the edge of a + b <= 40), p=TARGET; positive everywhere."""
    return np.asarray(
        [
            1.0
            / (
                1
                + abs(c["a"] - 17)
                + abs(c["b"] - 23)
                + sum(x != y for x, y in zip(c["p"], TARGET, strict=True))
            )
            for c in configs
        ]
    )


def test_local_search_climbs_to_the_peak_from_a_small_pool() -> None:
    settings = SearchSettings(random_points=20, starts=3)
    best = maximise(space(), score, [], set(), np.random.default_rng(0), settings)
    assert best == {"a": 17, "b": 23, "p": TARGET}


def test_seen_configurations_are_never_returned() -> None:
    s = space()
    peak = {"a": 17, "b": 23, "p": TARGET}
    best = maximise(
        s, score, [peak], {s.key(peak)}, np.random.default_rng(0), SearchSettings(50, 3)
    )
    assert best is not None and best != peak and s.feasible(best)


def test_all_zero_scores_mean_no_proposal() -> None:
    zero = lambda configs: np.zeros(len(configs))  # noqa: E731
    assert (
        maximise(space(), zero, [], set(), np.random.default_rng(0), SearchSettings(30, 2)) is None
    )


def test_acquisition_zeroes_unlikely_feasible_points() -> None:
    ei, pof = np.array([1.0, 2.0, 4.0]), np.array([0.05, 0.5, 1.0])
    assert acquisition(ei, pof, 0.1).tolist() == [0.0, 1.0, 4.0]
    assert acquisition(ei, pof, 0.0).tolist() == [0.05, 1.0, 4.0]
    draws = {draw_threshold(np.random.default_rng(seed), 0.1) for seed in range(200)}
    assert len(draws) == 11 and all(np.isclose(d * 100, round(d * 100)) for d in draws)
