"""Choosing the next configuration: BaCO's acquisition and how it is maximised.

The acquisition is expected improvement of the GP times the classifier's P(feasible), set to
zero where P(feasible) is below a threshold drawn afresh each step from {0, 0.1t, ..., t}: a
random threshold sometimes forbids likely failures and sometimes lets the search probe them.
The spaces are discrete, constrained and partly permutations, so the maximiser is not gradient
based: score every feasible point when there are at most ``SearchSettings.exhaustive`` of them
(the exact maximum; no climb can improve on it), otherwise many uniform feasible draws, then
hill-climb from the best of them (and from the best configurations seen) over feasible
neighbours until no neighbour scores higher.
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
    """How hard the acquisition is maximised: random pool size and hill-climbing starts, and
    the size of feasible set up to which every point is scored instead.

    Scoring is cheap next to an evaluation (10,000 points: a few tens of ms), and a pool of
    draws misses most of a space a few times its size: the tuner bench's 500-draw pool saw
    under a tenth of STeP gemm+SiLU's 5,376 configurations and a sixth of SAM SpGEMM's 2,880.
    Scoring all of them, budget 20, geomean best of seeds 0-9: gemm+SiLU 857 -> 854 cycles (the
    best known in 10 runs, not 9), SpGEMM 360 -> 349 (seeds 10-19 unchanged: 854, 319)."""

    random_points: int = 2000
    starts: int = 10
    exhaustive: int = 10_000


def maximise(
    space: Space,
    score: Score,
    incumbents: list[Config],
    seen: set[tuple],
    rng: np.random.Generator,
    settings: SearchSettings,
) -> Config | None:
    """The highest-scoring configuration not in ``seen``; None when every score is zero."""
    everything = space.all_feasible(max(settings.exhaustive, settings.random_points))
    pool = everything or space.sample(rng, settings.random_points)
    scores = score(pool)
    order = np.argsort(-scores, kind="stable")
    best: Config | None = None
    best_score = 0.0
    for i in order:
        if space.key(pool[i]) not in seen:
            best, best_score = pool[i], float(scores[i])
            break
    if everything is not None:  # every neighbour was scored already
        return best if best_score > 0.0 else None
    starts = [pool[i] for i in order[: settings.starts]] + incumbents
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
