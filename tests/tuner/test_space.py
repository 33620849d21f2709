"""Feasible sampling: exact (chain of trees and rejection agree), uniform, and never infeasible."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chisquare

from tuner.errors import SpaceError
from tuner.params import Categorical, Integer, Ordinal, Permutation, Real
from tuner.space import Space

CONSTRAINTS = ["a < b", "a * b <= 12", "pos(p, 0) < pos(p, 2)"]


def small_space(cap: int = 100_000) -> Space:
    params = [
        Integer("a", 1, 5),
        Integer("b", 1, 5),
        Permutation("p", 3),
        Categorical("c", ("x", "y")),
    ]
    return Space(params, CONSTRAINTS, tree_cap=cap)


def feasible_set(space: Space) -> set[tuple]:
    """The feasible configurations by brute force over the product of the domains."""
    domains = [list(p.values()) for p in space.params]
    names = [p.name for p in space.params]
    return {
        combo
        for combo in itertools.product(*domains)
        if space.feasible(dict(zip(names, combo, strict=True)))
    }


def test_trees_hold_exactly_the_feasible_partial_configurations() -> None:
    space = small_space()
    ab, perm, free = space.components
    # a < b and a*b <= 12 over 1..5, counted by hand: a=1: 4, a=2: 3 (b=3,4,5), a=3: 1 (b=4)
    assert sorted(ab.leaves) == [(1, 2), (1, 3), (1, 4), (1, 5), (2, 3), (2, 4), (2, 5), (3, 4)]
    assert sorted(perm.leaves) == [((0, 1, 2),), ((0, 2, 1),), ((1, 0, 2),)]
    assert free.leaves is None and not free.constraints  # unconstrained: drawn directly


@pytest.mark.parametrize("cap", [100_000, 10])  # 10: every component falls back to rejection
def test_sampling_is_uniform_over_the_feasible_set(cap: int) -> None:
    space = small_space(cap)
    feasible = feasible_set(space)
    assert len(feasible) == 8 * 3 * 2
    draws = space.sample(np.random.default_rng(11), 48 * 60)
    counts = Counter(space.key(d) for d in draws)
    assert set(counts) == feasible  # exact: nothing infeasible, nothing missing
    assert chisquare([counts[k] for k in sorted(feasible)]).pvalue > 0.001


def test_large_permutation_falls_back_to_rejection_without_listing() -> None:
    space = Space([Permutation("p", 12), Integer("k", 0, 11)], ["p[k] == 0"])
    (component,) = space.components
    assert component.leaves is None
    assert all(d["p"][d["k"]] == 0 for d in space.sample(np.random.default_rng(0), 200))


def test_real_parameters_go_through_rejection() -> None:
    space = Space([Real("r", 0.0, 1.0), Ordinal("o", (1, 2, 4))], ["r * o < 1"])
    assert space.components[0].leaves is None
    assert all(d["r"] * d["o"] < 1 for d in space.sample(np.random.default_rng(0), 200))


@pytest.mark.parametrize(
    ("params", "constraints", "message"),
    [
        ([Integer("a", 1, 4)], ["a > 9"], "constraints 'a > 9' leave no feasible configuration"),
        ([Integer("a", 1, 4)], ["1 > 2"], "constraint '1 > 2' is never true"),
        ([Integer("a", 1, 4)], ["a < z"], "unknown parameter 'z'"),
        ([Integer("a", 1, 4), Integer("a", 1, 2)], [], "parameter 'a' is declared twice"),
        ([Real("r", 0.0, 1.0)], ["r > 2"], r"no feasible value of \(r\) found"),
    ],
)
def test_empty_or_bad_spaces_are_one_line_errors(params, constraints, message) -> None:
    with pytest.raises(SpaceError, match=message):
        Space(params, constraints).sample(np.random.default_rng(0), 1)


def test_neighbours_jump_to_the_nearest_feasible_value() -> None:
    space = Space([Integer("t", 1, 16), Categorical("c", ("x", "y"))], ["t % 4 == 0"])
    moves = space.neighbours({"t": 8, "c": "x"}, np.random.default_rng(0))
    assert moves == [{"t": 12, "c": "x"}, {"t": 4, "c": "x"}, {"t": 8, "c": "y"}]


def test_encoding_width_and_range() -> None:
    space = small_space()
    x = space.encode(space.sample(np.random.default_rng(0), 10))
    assert x.shape == (10, 1 + 1 + 3 + 2) and x.min() >= 0.0 and x.max() <= 1.0


@given(
    limits=st.lists(st.integers(2, 40), min_size=3, max_size=3),
    modulus=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_samples_and_neighbours_always_satisfy_known_constraints(limits, modulus, seed) -> None:
    constraints = [
        f"x + y <= {limits[0]}",
        f"y * z < {limits[1] * 4}",
        f"z % {modulus} == 0 or z == 1",
        f"pos(p, 1) != {limits[2] % 4}",
    ]
    params = [
        Integer("x", 1, 20),
        Integer("y", 1, 20),
        Ordinal("z", (1, 2, 4, 8, 16)),
        Permutation("p", 4),
    ]
    space = Space(params, constraints)
    rng = np.random.default_rng(seed)
    for config in space.sample(rng, 20):
        assert space.feasible(config)
        assert all(space.feasible(n) for n in space.neighbours(config, rng))


def test_check_names_the_faulty_parameter() -> None:
    space = small_space()
    good = space.sample(np.random.default_rng(0), 1)[0]
    with pytest.raises(SpaceError, match="line 3: missing parameter 'c'"):
        space.check(
            space.from_json({k: v for k, v in space.to_json(good).items() if k != "c"}), "line 3"
        )
    with pytest.raises(SpaceError, match="unknown parameter 'z'"):
        space.check({**good, "z": 1})
    with pytest.raises(SpaceError, match=r"\(0, 0, 1\) is outside parameter 'p'"):
        space.check({**good, "p": (0, 0, 1)})


def test_count_of_feasible_configurations():
    # t in 1..12 with t % 3 == 0 or t == 1: 5 values; c free: 2; p unconstrained: 3! = 6.
    space = Space(
        [Integer("t", 1, 12), Categorical("c", ("a", "b")), Permutation("p", 3)],
        ["t % 3 == 0 or t == 1"],
    )
    assert space.count() == 5 * 2 * 6
    assert Space([Real("r", 0.0, 1.0)]).count() is None
    linked = Space([Integer("a", 1, 4), Integer("b", 1, 4)], ["a < b"])
    assert linked.count() == 6  # the pairs a < b of 1..4


def test_enumerate_lists_each_feasible_configuration_once_and_only_under_its_limit():
    space = Space(
        [
            Permutation("order", 3, items=("i", "j", "k")),
            Categorical("layout", ("rows", "cols")),
            Ordinal("factor", (1, 2, 4)),
        ],
        ['(layout == "rows") == (pos(order, "k") < pos(order, "j"))'],
    )
    # By hand: 3 of the 6 orders put k before j; each fixes the layout; factor is free.
    configs = space.all_feasible(100)
    assert len(configs) == space.count() == 6 * 3
    assert len({space.key(c) for c in configs}) == len(configs)
    assert all(space.feasible(c) for c in configs)
    drawn = {space.key(c) for c in space.sample(np.random.default_rng(0), 400)}
    assert drawn == {space.key(c) for c in configs}
    assert space.all_feasible(17) is None
