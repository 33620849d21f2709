"""The tuner benchmark's scoring, on hand-made runs (no simulation), and its problem spaces."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmarks.perf import tuner_bench
from benchmarks.perf.tuner_bench import (
    ceiling,
    evals_to_reach,
    main,
    reach_ceiling,
    reached,
    run_optuna_gp,
    run_tpe,
    summarise,
)
from benchmarks.perf.tuner_problems import (
    LARGE,
    PROBLEMS,
    SMALL,
    dae_embedding,
    sam_mttkrp,
    sam_spgemm,
    step_swiglu,
)
from tuner.params import Categorical, Ordinal, Permutation
from tuner.space import Space


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


def test_ceiling_and_reach_counts_by_hand():
    """The ceiling scores every competitor run against the best known (2); a failed run
    counts twice the worst feasible value seen (9). Reaching counts within the budget only."""
    runs = {
        "p": {
            "ours": [[2.0, 9.0], [9.0, 4.0]],
            "random": [[4.0, 9.0], [9.0, 8.0]],
            "tpe": [[2.0, 9.0], [9.0, 2.0]],
            "optuna_gp": [[math.inf, math.inf], [9.0, 9.0]],
        }
    }
    top = ceiling(runs, {"p": 2.0}, 2)
    assert top["vs_random"] == pytest.approx(math.sqrt(4 / 2 * 8 / 2), abs=1e-4)
    assert top["vs_tpe"] == pytest.approx(1.0)
    assert top["vs_optuna_gp"] == pytest.approx(math.sqrt(18 / 2 * 9 / 2), abs=1e-4)
    assert reached(runs, {"p": 2.0}, 2) == {
        "ours": (1, 2),
        "random": (0, 2),
        "tpe": (2, 2),
        "optuna_gp": (0, 2),
    }
    assert reached(runs, {"p": 2.0}, 1)["tpe"] == (1, 2)  # the second run reaches it at 2
    # A competitor missing on a problem has no ceiling (as it has no ratio).
    del runs["p"]["optuna_gp"]
    assert "vs_optuna_gp" not in ceiling(runs, {"p": 2.0}, 2)


def test_reach_ceiling_is_random_over_the_first_step_after_the_design():
    """Random reaches the best (2) at evaluation 3 in one run and never (counts 5) in the
    other; a tuner with a 2-point design reaches it at evaluation 3 at the soonest."""
    runs = {"p": {"random": [[9.0, 8.0, 2.0, 9.0], [9.0, 8.0, 7.0, 6.0]]}}
    assert reach_ceiling(runs, {"p": 2.0}, 4, {"p": 2}) == pytest.approx(
        math.sqrt(3 / 3 * 5 / 3), abs=1e-4
    )


def test_sam_problem_constraints_leave_exactly_the_legal_layouts():
    space = sam_mttkrp().space
    rng = np.random.default_rng(0)
    seen = {
        (c["order"], c["b_levels"], c["c_layout"], c["d_layout"]) for c in space.sample(rng, 3000)
    }
    # A stores i above j: 12 of the 24 orders. Each order fixes B's level order (its i, k, l
    # in the order's sequence) and whether C and D are stored with j inner.
    assert len(seen) == 12
    for order, b_levels, c_layout, d_layout in seen:
        assert order.index("i") < order.index("j")
        assert b_levels == tuple(x for x in order if x != "j")
        assert (c_layout == "kj") == (order.index("k") < order.index("j"))
        assert (d_layout == "lj") == (order.index("l") < order.index("j"))
    # Per layout: one lane (level i), or 7 factors over i or j.
    assert space.count() == 12 * (1 + 7 * 2)


def test_dae_problem_has_lanes_free_only_where_the_compiler_declares_them():
    space = dae_embedding().space
    configs = space.all_feasible(1000)
    assert {c["lanes"] for c in configs if c["level"] == 0} == {1}
    assert {c["lanes"] for c in configs if c["level"] == 3 or c["contiguous"]} == {8}
    assert all(c["rows"] == 1 for c in configs if c["level"] < 3)
    # O0: 2 hint choices; O1, O2: 6 lane widths x 2 (or contiguous, 8 lanes) x 2; O3: 2 x 2 x 6.
    assert len(configs) == 2 + 2 * (6 * 2 + 2) + 2 * 2 * 6


def test_large_problems_have_real_kernel_sizes_and_the_bench_runs_them_all():
    assert set(PROBLEMS) == set(SMALL) | set(LARGE)
    assert step_swiglu().space.count() == 3 * 4 * 3 * 3 * 6 * 6 * 5 * 5 * 6  # 583,200
    space = sam_spgemm().space
    # 3 of the 6 orders visit i before j (X is row-major); 16 level formats; one lane
    # or 7 factors over i or j; 4 block sizes.
    assert space.count() == 3 * 16 * (1 + 7 * 2) * 4
    assert all(c["order"].index("i") < c["order"].index("j") for c in space.all_feasible(3000))


def test_spgemm_configurations_are_real_runs_and_refusals_are_unknown_constraints():
    problem = sam_spgemm()
    gustavson = {
        "order": ("i", "k", "j"),
        "a_levels": "dc",
        "b_levels": "dc",
        "par_level": "i",
        "factor": 4,
        "block": 1,
    }
    assert problem(gustavson) > 0
    # Blocks of A stored k above i do not line up with B's for a product: the compiler
    # refuses, which the tuner only learns by trying.
    assert problem({**gustavson, "order": ("k", "i", "j"), "block": 2}) is None
    assert problem.space.feasible({**gustavson, "order": ("k", "i", "j"), "block": 2})


@pytest.mark.slow  # two STeP simulations of a five-operator kernel
def test_swiglu_over_the_compute_budget_is_an_unknown_constraint():
    problem = step_swiglu()
    config = {"tm": 32, "ti": 64, "th": 64, "to": 64, "c_act": 1, "c_mul": 1}
    assert problem({**config, "c_gate": 4, "c_up": 4, "c_down": 4}) > 0
    assert problem({**config, "c_gate": 32, "c_up": 32, "c_down": 8}) is None  # 74 > 64 units


def test_runs_of_separate_jobs_are_summarised_together(tmp_path, capsys):
    """Problems run as separate jobs (`--runs`) summarise as one run would; a failed
    evaluation is stored as null and read back as infinitely bad."""
    first = {"ours": [[3.0, 2.0]], "random": [[4.0, None]], "tpe": [[None, 6.0]]}
    second = {"ours": [[5.0, 5.0]], "random": [[5.0, 10.0]], "tpe": [[5.0, 5.0]]}
    for runs in (first, second):
        runs["optuna_gp"] = runs["tpe"]
    (tmp_path / "a.json").write_text(json.dumps({"p": first}))
    (tmp_path / "b.json").write_text(json.dumps({"q": second}))
    with pytest.raises(SystemExit):  # runs of 2 evaluations: no budget of the bench fits
        main(["--summarise", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--json"])
    long = {m: [r * 10 for r in rs] for m, rs in first.items()}
    (tmp_path / "a.json").write_text(json.dumps({"p": long}))
    long = {m: [r * 10 for r in rs] for m, rs in second.items()}
    (tmp_path / "b.json").write_text(json.dumps({"q": long}))
    capsys.readouterr()
    main(["--summarise", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--json"])
    row = json.loads(capsys.readouterr().out)["20"]
    assert row["vs_random"] == pytest.approx(math.sqrt(4 / 2 * 5 / 5), abs=1e-4)
    # p's TPE run: 6 (its failure does not count); q's: 5 vs ours 5.
    assert row["vs_tpe"] == pytest.approx(math.sqrt(6 / 2), abs=1e-4)


def test_first_seed_picks_the_repeats_seeds_and_competitors_run_alone(tmp_path, monkeypatch):
    """`--first-seed 10 --repeats 2` runs seeds 10 and 11; a job of competitors only (ours is
    compared with them later) saves its runs and stops before the summary."""
    seeds = []

    def fake_random(problem, budget, seed):
        seeds.append(seed)
        return tuner_bench.Run([float(seed)] * budget)

    monkeypatch.setitem(tuner_bench.RUNNERS, "random", fake_random)
    runs = tmp_path / "runs.json"
    main(
        ["--problems", "dae_embedding", "--methods", "random", "--repeats", "2"]
        + ["--first-seed", "10", "--budgets", "3", "--runs", str(runs)]
    )
    assert seeds == [10, 11]
    saved = json.loads(runs.read_text())["dae_embedding"]["random"]
    assert saved == [[10.0] * 3, [11.0] * 3]


class CountingBlackBox:
    """A problem whose known constraints leave 12 of 768 configurations; it records every
    call and fails the test on a known-infeasible one. a == 6 breaks an unknown constraint."""

    def __init__(self):
        self.space = Space(
            [
                Ordinal("a", tuple(range(8))),
                Ordinal("b", tuple(range(8))),
                Categorical("c", ("x", "y")),
                Permutation("p", 3, items=("i", "j", "k")),
            ],
            ["a + b == 7", 'c == "x" or a > 3', 'pos(p, "i") < pos(p, "j")', 'pos(p, "k") == 2'],
        )
        self.calls = []

    def __call__(self, config):
        assert self.space.feasible(config), f"evaluated a known-infeasible {config}"
        self.calls.append(dict(config))
        if config["a"] == 6:
            return None
        return float(1 + (config["a"] - 2) ** 2 + (config["c"] == "y"))


@pytest.mark.slow
def test_tpe_spends_evaluations_only_on_known_feasible_points_and_is_seeded():
    problem = CountingBlackBox()
    assert problem.space.count() == 12
    run = run_tpe(problem, 15, seed=3)
    assert len(problem.calls) == 15 and len(run.values) == 15
    assert run.rejected > 15  # ~98% of Optuna's proposals break a known constraint
    # The unknown constraint still costs an evaluation, scored as failed.
    assert [v == math.inf for v in run.values] == [c["a"] == 6 for c in problem.calls]
    again = CountingBlackBox()
    assert run_tpe(again, 15, seed=3) == run and again.calls == problem.calls


def test_rejection_cap_falls_back_to_feasible_draws_and_reports_them(monkeypatch):
    monkeypatch.setitem(tuner_bench.MAX_REJECTIONS, "tpe", 1)
    problem = CountingBlackBox()
    run = run_tpe(problem, 10, seed=0)
    assert len(problem.calls) == 10  # every call checked feasible
    assert run.fallbacks > 0 and run.rejected >= run.fallbacks
    again = CountingBlackBox()
    assert run_tpe(again, 10, seed=0) == run and again.calls == problem.calls


@pytest.mark.slow
def test_optuna_gp_spends_evaluations_only_on_known_feasible_points_and_is_seeded():
    problem, again = CountingBlackBox(), CountingBlackBox()
    run = run_optuna_gp(problem, 12, seed=1)
    assert len(problem.calls) == 12 and run.rejected > 0
    assert run_optuna_gp(again, 12, seed=1) == run and again.calls == problem.calls
