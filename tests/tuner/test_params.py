"""Parameter types: encodings and neighbourhoods against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.errors import SpaceError
from tuner.params import Categorical, Integer, Ordinal, Permutation, Real


def test_permutation_encodings_by_hand() -> None:
    order = (2, 0, 1)  # element 0 at position 1, element 1 at 2, element 2 at 0
    assert Permutation("p", 3).encode(order) == [0.5, 1.0, 0.0]
    # pairs (0,1) (0,2) (1,2): is the first element placed before the second?
    assert Permutation("p", 3, "kendall").encode(order) == [1.0, 0.0, 0.0]
    # rows are positions, columns elements
    assert Permutation("p", 3, "hamming").encode(order) == [0, 0, 1, 1, 0, 0, 0, 1, 0]
    assert [Permutation("p", 4, e).width for e in ("spearman", "kendall", "hamming")] == [4, 6, 16]


def test_permutation_neighbours_are_all_swaps() -> None:
    rng = np.random.default_rng(0)
    rays = Permutation("p", 3).neighbour_rays((0, 1, 2), rng)
    assert sorted(next(r) for r in rays) == [(0, 2, 1), (1, 0, 2), (2, 1, 0)]
    assert len(Permutation("p", 6).neighbour_rays(tuple(range(6)), rng)) == 15


def test_large_permutation_is_never_listed() -> None:
    p = Permutation("p", 20)
    assert p.size == 2432902008176640000 and p.contains(p.sample(np.random.default_rng(1)))


def test_ordered_rays_walk_outward() -> None:
    rng = np.random.default_rng(0)
    up, down = Integer("i", 1, 6).neighbour_rays(3, rng)
    assert list(up) == [4, 5, 6] and list(down) == [2, 1]
    up, down = Ordinal("o", (64, 8, 16, 32)).neighbour_rays(16, rng)
    assert list(up) == [32, 64] and list(down) == [8]
    assert [next(r) for r in Categorical("c", ("a", "b", "c")).neighbour_rays("b", rng)] == [
        "a",
        "c",
    ]


def test_log_scale_and_one_hot() -> None:
    assert Ordinal("o", (1, 10, 100), log=True).encode(10) == [0.5]
    assert Integer("i", 0, 10).encode(5) == [0.5]
    assert Real("r", 1.0, 100.0, log=True).encode(10.0) == [0.5]
    assert Categorical("c", ("a", "b", "c")).encode("c") == [0.0, 0.0, 1.0]


def test_real_neighbours_stay_in_range() -> None:
    rng = np.random.default_rng(3)
    r = Real("r", 0.0, 1.0)
    assert all(0.0 <= next(ray) <= 1.0 for ray in r.neighbour_rays(1.0, rng))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Integer("tile", 8, 4), "parameter 'tile': needs integers low <= high"),
        (lambda: Integer("tile", 0, 4, log=True), "parameter 'tile': a log scale needs low > 0"),
        (lambda: Ordinal("v", ()), "parameter 'v': needs a non-empty list of numbers"),
        (lambda: Categorical("c", ("a", "a")), "parameter 'c': repeated values"),
        (lambda: Permutation("p", 3, "lehmer"), "parameter 'p': unknown encoding 'lehmer'"),
        (lambda: Real("2x", 0.0, 1.0), "parameter '2x': the name must be an identifier"),
    ],
)
def test_bad_domains_name_the_parameter(make, message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        make()


def test_permutation_of_named_items_samples_encodes_and_swaps_items():
    p = Permutation("order", 3, items=("i", "j", "k"))
    rng = np.random.default_rng(0)
    draws = {p.sample(rng) for _ in range(200)}
    assert len(draws) == 6 and all(p.contains(d) for d in draws)
    # Spearman: each item's position over n - 1, in item order i, j, k.
    assert p.encode(("k", "i", "j")) == [0.5, 1.0, 0.0]
    swaps = sorted(next(r) for r in p.neighbour_rays(("i", "j", "k"), rng))
    assert swaps == [("i", "k", "j"), ("j", "i", "k"), ("k", "j", "i")]
    assert not p.contains(("i", "i", "k")) and not p.contains((["i"], "j", "k"))
    with pytest.raises(SpaceError, match="'order': needs 3 distinct items"):
        Permutation("order", 3, items=("i", "i", "k"))
