"""The tuner benchmark's scoring, on hand-made runs (no simulation), and its problem spaces."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.perf.tuner_bench import evals_to_reach, sam_spmm, summarise


def test_evals_to_reach_counts_from_one_and_censors_at_budget_plus_one():
    assert evals_to_reach([5.0, 3.0, 2.0], 2.0, 3) == 3
    assert evals_to_reach([2.0, 3.0], 2.0, 2) == 1
    assert evals_to_reach([5.0, 3.0, 2.0], 2.0, 2) == 3  # not within the budget


def test_summary_ratios_by_hand():
    # One problem, two repeats. Ours finds 2 at eval 1 and 4 at eval 2; random finds 4 and 8
    # (best known 2: random never reaches it, censored at budget + 1 = 3).
    runs = {
        "p": {
            "ours": [[2.0, 9.0], [9.0, 4.0]],
            "random": [[4.0, 9.0], [9.0, 8.0]],
            "tpe": [[2.0, 9.0], [9.0, 4.0]],
            "optuna_gp": [[math.inf, 4.0], [9.0, 9.0]],
        }
    }
    row = summarise(runs, {"p": 2.0}, [2])["2"]
    assert row["vs_random"] == pytest.approx(2.0)  # geomean(4/2, 8/4)
    assert row["vs_tpe"] == pytest.approx(1.0)
    assert row["vs_optuna_gp"] == pytest.approx(math.sqrt(2 * 9 / 4), abs=1e-4)
    # evals to best: ours 1 and 3 (censored), random 3 and 3: geomean(3/1, 3/3) = sqrt(3)
    assert row["evals_to_best_ratio_vs_random"] == pytest.approx(math.sqrt(3), abs=1e-4)


def test_sam_problem_constraints_leave_exactly_the_legal_orders():
    space = sam_spmm().space
    rng = np.random.default_rng(0)
    seen = {(c["order"], c["a_format"], c["b_layout"]) for c in space.sample(rng, 2000)}
    # X stores i above j: orders ijk, ikj, kij; each fixes A's and B's layout (2 formats of A).
    orders = {o for o, _, _ in seen}
    assert orders == {("i", "j", "k"), ("i", "k", "j"), ("k", "i", "j")}
    assert len(seen) == 6
    assert space.count() == 6 * (2 * 5 + 1)  # parallel over i or j, or k with factor 1
