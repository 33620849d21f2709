"""Reading the store task by task (`agent memory ls`) and pruning what no longer teaches
(`agent memory prune`).

Pruning removes only failed attempts older than a cut-off that no other attempt descends
from: a verified program is never removed (it is an example and a success count), nor is a
failure a later attempt repaired (it is the "before" of that lineage). The counts and costs
of `stats` shrink by what is removed; nothing else changes.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

SECONDS_PER_DAY = 86_400.0


def task_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """One row per task: attempts, distinct verified programs, best cycles and speedup."""
    rows = conn.execute(
        "SELECT t.key, t.baseline_cycles, COUNT(a.id),"
        " COUNT(DISTINCT CASE WHEN a.status='passed' AND a.correct=1 THEN a.program_hash END),"
        " b.cycles, MAX(a.created)"
        " FROM tasks t LEFT JOIN attempts a ON a.task_key = t.key"
        " LEFT JOIN best b ON b.task_key = t.key GROUP BY t.key ORDER BY t.key"
    ).fetchall()
    listed = []
    for key, baseline, attempts, verified, best, last in rows:
        speedup = round(baseline / best, 4) if baseline and best else None
        listed.append(
            {
                "task": key,
                "attempts": attempts,
                "verified_programs": verified,
                "best_cycles": best,
                "baseline_cycles": baseline,
                "speedup": speedup,
                "last_attempt": last,
            }
        )
    return listed


def prunable(conn: sqlite3.Connection, older_than_days: float) -> list[int]:
    """Ids of the failed attempts older than the cut-off that no attempt descends from."""
    cutoff = time.time() - older_than_days * SECONDS_PER_DAY
    return [
        attempt_id
        for (attempt_id,) in conn.execute(
            "SELECT a.id FROM attempts a WHERE NOT (a.status='passed' AND a.correct=1)"
            " AND a.created < ? AND NOT EXISTS"
            " (SELECT 1 FROM attempts c WHERE c.parent_id = a.id) ORDER BY a.id",
            (cutoff,),
        )
    ]


def delete_attempts(conn: sqlite3.Connection, ids: list[int]) -> int:
    """Delete these attempts (in one transaction the caller holds); how many went."""
    removed = 0
    for start in range(0, len(ids), 500):  # SQLite's limit on bound parameters
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        removed += conn.execute(f"DELETE FROM attempts WHERE id IN ({marks})", chunk).rowcount
    return removed
