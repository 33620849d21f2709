"""Choosing the next configuration: BaCO's acquisition and how it is maximised.

The acquisition is expected improvement of the GP times the classifier's P(feasible), set to
zero where P(feasible) is below a threshold drawn afresh each step from {0, 0.1t, ..., t}: a
random threshold sometimes forbids likely failures and sometimes lets the search probe them.
The spaces are discrete, constrained and partly permutations, so the maximiser is not gradient
based: score many uniform feasible draws (every feasible point, when there are no more than
the draws would be), then hill-climb from the best of them (and from the best configurations
seen) over feasible neighbours until no neighbour scores higher.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tuner.space import Config, Space

Score = Callable[[list[Config]], np.ndarray]
# Feasibility threshold ceiling t (BaCO's default) and its number of steps.
FEASIBILITY_THRESHOLD = 0.1
_THRESHOLD_STEPS = 10
# Hill-climbing moves per start; a climb almost always stops far earlier.
_MAX_CLIMB = 50


def draw_threshold(rng: np.random.Generator, ceiling: float) -> float:
    """This step's feasibility threshold, uniform over {0, ceiling/10, ..., ceiling}."""
    return ceiling * int(rng.integers(_THRESHOLD_STEPS + 1)) / _THRESHOLD_STEPS


def acquisition(ei: np.ndarray, p_feasible: np.ndarray, threshold: float) -> np.ndarray:
    """EI × P(feasible), zero where P(feasible) is below ``threshold``."""
    return np.where(p_feasible >= threshold, ei * p_feasible, 0.0)


@dataclass
class SearchSettings:
    """How hard the acquisition is maximised: random pool size and hill-climbing starts."""

    random_points: int = 2000
    starts: int = 10


def maximise(
    space: Space,
    score: Score,
    incumbents: list[Config],
    seen: set[tuple],
    rng: np.random.Generator,
    settings: SearchSettings,
) -> Config | None:
    """The highest-scoring configuration not in ``seen``; None when every score is zero."""
    pool = space.all_feasible(settings.random_points) or space.sample(rng, settings.random_points)
    scores = score(pool)
    order = np.argsort(-scores, kind="stable")
    starts = [pool[i] for i in order[: settings.starts]] + incumbents
    best: Config | None = None
    best_score = 0.0
    for i in order:
        if space.key(pool[i]) not in seen:
            best, best_score = pool[i], float(scores[i])
            break
    # All climbers move in lockstep so each round is one batched model call, not one per start.
    climbers = list(zip(starts, score(starts), strict=True))
    for _ in range(_MAX_CLIMB):
        if not climbers:
            break
        moves_of = [space.neighbours(current, rng) for current, _ in climbers]
        flat = [move for moves in moves_of for move in moves]
        if not flat:
            break
        flat_scores = score(flat)
        for move, value in zip(flat, flat_scores, strict=True):
            if value > best_score and space.key(move) not in seen:
                best, best_score = move, float(value)
        advanced, offset = [], 0
        for (_, current_score), moves in zip(climbers, moves_of, strict=True):
            if moves:
                chunk = flat_scores[offset : offset + len(moves)]
                top = int(np.argmax(chunk))
                if chunk[top] > current_score:
                    advanced.append((moves[top], float(chunk[top])))
            offset += len(moves)
        climbers = advanced
    return best if best_score > 0.0 else None
