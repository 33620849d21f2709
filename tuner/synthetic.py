"""A synthetic tuning problem with a known optimum, and a comparison against random sampling.

It has the shape of a kernel's tuning problem at small scale: two tile-like integers on a log
scale tied by a known constraint, a categorical, a loop order (a permutation) whose cost grows
with its distance from the best order, and an unknown constraint (a "budget" the objective only
reports by failing). Tests use it to check the tuner finds the optimum within budget; run it as
``python -m tuner.synthetic [--seeds N] [--budgets 20 40]`` to print the geometric mean of
best-found values against uniform random sampling (ratios > 1 mean the tuner is better).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from tuner.params import Categorical, Integer, Permutation
from tuner.space import Config, Space
from tuner.tuner import Tuner

BEST_ORDER = (2, 0, 3, 1, 4)
OPTIMUM = {"tile_m": 12, "tile_n": 20, "unroll": "x4", "order": BEST_ORDER}
OPTIMUM_VALUE = 1.0


def space() -> Space:
    return Space(
        [
            Integer("tile_m", 1, 32),
            Integer("tile_n", 1, 32),
            Categorical("unroll", ("x1", "x2", "x4", "x8")),
            Permutation("order", 5),
        ],
        ["tile_m <= tile_n", "tile_m % 2 == 0 or tile_m == 1"],
    )


def objective(config: Config) -> tuple[float | None, bool]:
    """Shifted quadratic plus an order penalty; ``tile_m * tile_n > 480`` is an unknown failure."""
    m, n = config["tile_m"], config["tile_n"]
    if m * n > 480:
        return None, False
    unroll = {"x1": 3.0, "x2": 1.5, "x4": 0.0, "x8": 2.0}[config["unroll"]]
    displaced = sum(abs(config["order"].index(e) - BEST_ORDER.index(e)) for e in range(5))
    return OPTIMUM_VALUE + 0.05 * ((m - 12) ** 2 + (n - 20) ** 2) + unroll + displaced, True


def random_values(budget: int, seed: int) -> list[float]:
    """Values of ``budget`` uniform feasible draws (known constraints respected; inf = failed)."""
    rng = np.random.default_rng([seed, 7])
    outcomes = [objective(c) for c in space().sample(rng, budget)]
    return [v if ok else math.inf for v, ok in outcomes]


def tuned_values(budget: int, seed: int) -> list[float]:
    """Values in evaluation order of one tuning run (inf = failed)."""
    result = Tuner(space(), objective, budget, seed).run()
    return [e.value if e.feasible else math.inf for e in result.history]


def geomean(values: list[float]) -> float:
    return math.exp(float(np.mean(np.log(values))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budgets", type=int, nargs="+", default=[20, 40])
    args = parser.parse_args()
    # Each step's randomness depends on (seed, step) only, so the first b evaluations of the
    # longest run are exactly the run of budget b: one run per seed serves every budget.
    longest = max(args.budgets)
    ours = [tuned_values(longest, s) for s in range(args.seeds)]
    rand = [random_values(longest, s) for s in range(args.seeds)]
    for budget in sorted(args.budgets):
        ours_best = [min(run[:budget]) for run in ours]
        rand_best = [min(run[:budget]) for run in rand]
        print(
            f"budget {budget}: tuner geomean {geomean(ours_best):.3f}, "
            f"random {geomean(rand_best):.3f}, random/tuner {geomean(rand_best) / geomean(ours_best):.2f}x, "
            f"optimum found {sum(v == OPTIMUM_VALUE for v in ours_best)}/{args.seeds} "
            f"(random {sum(v == OPTIMUM_VALUE for v in rand_best)}/{args.seeds})"
        )


if __name__ == "__main__":
    main()
