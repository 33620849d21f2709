"""What the store teaches a new task: the best verified program of each similar task, and the
most relevant improvement pair (a slower and a faster verified program of one task).

Similar is judged on three things, cheapest first: the operations a task names and its best
program calls (`features.task_ops`, `features.program_ops`), the salient words of names and
descriptions, and the task's shape (`features.task_features`: symbolic dims, input ranks,
static size). Only the first two can make a task relevant — the relevance floor: a task must
share at least one operation or `MIN_SHARED_WORDS` salient words, so a store holding one
unrelated kernel offers nothing rather than that kernel (an unrelated example misleads more
than no example). Features only order the relevant ones.

An example is its task's *best* program (fastest, then shortest: the store's `best` table;
every verified program ran within its target's budget, or the verifier would not have passed
it), so a prompt shows what memory knows at its best, with the cycles and, where the task's
baseline is known, the speedup — a program slower than its baseline says so.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from memory.features import description_words, feature_points, task_features, task_ops

if TYPE_CHECKING:
    from benchmarks.task import Task
    from memory.store import Attempt

MIN_SHARED_WORDS = 2
"""Salient description words two tasks must share for text alone to make them similar (one
shared word such as "matrix" is what every kernel's description has)."""


@dataclass(frozen=True)
class Relevance:
    """How alike another task is to the one asked about."""

    same: bool
    score: int  # shared ops count twice, shared words (capped) once, features once each

    @property
    def relevant(self) -> bool:
        return self.same or self.score > 0


def relevance(
    task: Task,
    key: str,
    ops: set[str],
    words: set[str],
    features: dict,
    *,
    wanted: set[str],
    my_words: set[str],
    my_features: dict,
) -> Relevance:
    """The relevance of the stored task `key` (its ops, words, features) to `task`; a score
    of 0 when it is below the floor (see the module docstring)."""
    if key == task.key:
        return Relevance(True, 0)
    shared_ops = len(wanted & ops)
    shared_words = len(my_words & words)
    if shared_ops == 0 and shared_words < MIN_SHARED_WORDS:
        return Relevance(False, 0)
    return Relevance(
        False, 2 * shared_ops + min(shared_words, 3) + feature_points(my_features, features)
    )


def similar_tasks(conn: sqlite3.Connection, task: Task) -> list[tuple[str, Relevance]]:
    """Solved tasks of `task`'s dialect above the relevance floor, most relevant first
    (ties: the key, so the order is stable)."""
    wanted = task_ops(task)
    my_words = description_words(f"{task.name.replace('_', ' ')} {task.description}")
    my_features = task_features(task)
    rows = conn.execute(
        "SELECT t.key, t.name, t.description, t.ops, t.features, a.program_ops"
        " FROM tasks t JOIN best b ON b.task_key = t.key JOIN attempts a ON a.id = b.attempt_id"
        " WHERE t.dialect=?",
        (task.dialect,),
    ).fetchall()
    found = []
    for key, name, description, their_ops, features, best_ops in rows:
        rel = relevance(
            task,
            key,
            set(their_ops.split()) | set(best_ops.split()),
            description_words(f"{name.replace('_', ' ')} {description}"),
            _features(features),
            wanted=wanted,
            my_words=my_words,
            my_features=my_features,
        )
        if rel.relevant:
            found.append((key, rel))
    found.sort(key=lambda item: (not item[1].same, -item[1].score, item[0]))
    return found


def _features(text: str | None) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class ImprovementPair:
    """What an optimisation of one task looked like: a verified program and a faster one
    (with each one's cycles, bottleneck and metrics: the simulator's reports)."""

    slower: Attempt
    faster: Attempt

    @property
    def task_key(self) -> str:
        return self.faster.task_key


def improvement_pair(attempts: list[Attempt], best: Attempt | None) -> ImprovementPair | None:
    """The pair for one task, from its attempts: the best program and the closest slower
    verified program in its lineage (what the optimisation started from), else the task's
    first verified program that is slower. None when no verified program is slower."""
    if best is None or best.cycles is None:
        return None
    by_id = {a.id: a for a in attempts}
    parent = by_id.get(best.parent_id) if best.parent_id is not None else None
    seen = {best.id}
    while parent is not None and parent.id not in seen:
        seen.add(parent.id)
        if parent.verified and parent.cycles is not None and parent.cycles > best.cycles:
            return ImprovementPair(parent, best)
        parent = by_id.get(parent.parent_id) if parent.parent_id is not None else None
    for attempt in attempts:  # in the order recorded: where the task started
        if attempt.verified and attempt.cycles is not None and attempt.cycles > best.cycles:
            return ImprovementPair(attempt, best)
    return None
