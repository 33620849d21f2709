"""Choosing demonstrations the way the seed paper's adaptive self-improvement does.

Solved tasks are ranked by how many verified attempts they have: a task solved by few of
many samples was hard-earned, and its solution teaches more than that of a task every
sample solves. The solved tasks are split into `groups` strata by that count; a round of
self-improvement first shows only the hardest stratum's solutions (the shortest verified
program per task), and widens to easier strata when the number of solved tasks stops
growing. Fewer, hard-earned demonstrations beat many easy ones (paper's finding).
"""

from __future__ import annotations

from memory.store import Attempt, ExperienceStore


def strata_thresholds(counts: list[int], groups: int = 3) -> list[int]:
    """Ascending success-count thresholds, one per stratum: the solved tasks sorted by
    count and cut into `groups` parts of near-equal size; each threshold is the largest
    count in its part. Repeated thresholds collapse (ties cannot be split)."""
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    solved = sorted(c for c in counts if c > 0)
    if not solved:
        return []
    thresholds: list[int] = []
    for g in range(1, groups + 1):
        end = round(g * len(solved) / groups)
        if end == 0:
            continue
        value = solved[end - 1]
        if not thresholds or value > thresholds[-1]:
            thresholds.append(value)
    return thresholds


def hard_earned_examples(store: ExperienceStore, dialect: str, threshold: int) -> list[Attempt]:
    """The shortest verified program of every task of `dialect` solved at most `threshold`
    times, shortest first."""
    counts = store.success_counts(dialect)
    keys = [key for key, n in counts.items() if 0 < n <= threshold]
    return store.shortest_verified(keys)


def selection_ladder(store: ExperienceStore, dialect: str, groups: int = 3) -> list[list[Attempt]]:
    """The example sets to try in order: the hardest stratum's, then widened by each
    easier stratum. Empty when nothing of this dialect is solved yet."""
    thresholds = strata_thresholds(list(store.success_counts(dialect).values()), groups)
    return [hard_earned_examples(store, dialect, t) for t in thresholds]
