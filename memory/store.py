"""The experience store: every attempt on every task, and what can be learned from them.

One SQLite file in WAL mode, so readers never block the writer and several processes
(parallel runs, a nightly improve loop, `agent memory`) can share it. Each thread uses
its own connection, and every write is one short `BEGIN IMMEDIATE` transaction under a
busy timeout, so concurrent writers queue instead of failing.

Only programs the verifier passed can come back out as examples (`best`, `recall`): the
status is checked in the queries themselves, so a failed or rejected attempt — including
any reward hack the verifier caught — never becomes a lesson.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memory.features import fts_query, program_ops, task_ops

if TYPE_CHECKING:
    from benchmarks.task import Task

STATUSES = ("passed", "incorrect", "invalid", "error", "timeout", "rejected")
BUSY_TIMEOUT_S = 30.0
FTS_NEIGHBOURS = 10
"""How many best description matches (bm25) count as similar: words common to every task
description rank low by bm25, so a cut keeps them from making everything similar."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    key         TEXT PRIMARY KEY,
    dialect     TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    ops         TEXT NOT NULL,
    first_seen  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
    id          INTEGER PRIMARY KEY,
    task_key    TEXT NOT NULL REFERENCES tasks(key),
    program     TEXT NOT NULL,
    program_ops TEXT NOT NULL,
    model       TEXT NOT NULL,
    prompt_hash TEXT NOT NULL,
    status      TEXT NOT NULL,
    correct     INTEGER NOT NULL,
    cycles      INTEGER,
    metrics     TEXT NOT NULL,
    feedback    TEXT NOT NULL,
    bottleneck  TEXT NOT NULL,
    tokens      INTEGER NOT NULL,
    cost_usd    REAL NOT NULL,
    seconds     REAL NOT NULL,
    parent_id   INTEGER REFERENCES attempts(id),
    run_id      TEXT NOT NULL,
    created     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_by_task ON attempts(task_key, status);
CREATE INDEX IF NOT EXISTS attempts_by_run ON attempts(run_id);
CREATE TABLE IF NOT EXISTS best (
    task_key    TEXT PRIMARY KEY REFERENCES tasks(key),
    attempt_id  INTEGER NOT NULL REFERENCES attempts(id),
    cycles      INTEGER NOT NULL,
    length      INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS task_text USING fts5(key UNINDEXED, name, description);
"""


class StoreError(Exception):
    """The store cannot be opened or written (message names the file)."""


@dataclass(frozen=True)
class Attempt:
    """One recorded attempt (a row of `attempts`)."""

    id: int
    task_key: str
    program: str
    model: str
    prompt_hash: str
    status: str
    correct: bool
    cycles: int | None
    metrics: dict[str, Any]
    feedback: str
    bottleneck: str
    tokens: int
    cost_usd: float
    seconds: float
    parent_id: int | None
    run_id: str
    created: float
    task_description: str = ""

    @property
    def verified(self) -> bool:
        return self.status == "passed" and self.correct


_FIELDS = (
    "id",
    "task_key",
    "program",
    "model",
    "prompt_hash",
    "status",
    "correct",
    "cycles",
    "metrics",
    "feedback",
    "bottleneck",
    "tokens",
    "cost_usd",
    "seconds",
    "parent_id",
    "run_id",
    "created",
)
# Every read joins the task, so an attempt carries its task's description (for prompts).
_COLUMNS = ", ".join(f"a.{f}" for f in _FIELDS) + ", t.description"
_FROM = " FROM attempts a JOIN tasks t ON t.key = a.task_key"
_SELECT = f"SELECT {_COLUMNS}{_FROM}"
_INSERT = (
    f"INSERT INTO attempts ({', '.join(_FIELDS[1:])}, program_ops)"
    f" VALUES ({', '.join('?' * len(_FIELDS))})"
)


def _attempt(row: tuple) -> Attempt:
    """A row of `_SELECT` (the attempt's columns in `_FIELDS` order, then the description)."""
    values = list(row)
    values[_FIELDS.index("correct")] = bool(values[_FIELDS.index("correct")])
    values[_FIELDS.index("metrics")] = json.loads(values[_FIELDS.index("metrics")])
    return Attempt(*values)


def _plain(value: Any) -> Any:
    """JSON for numpy scalars and anything else a metrics dict may hold."""
    return value.item() if hasattr(value, "item") else str(value)


def _verdict_fields(verdict: Any) -> tuple[str, bool, int | None, dict, str, str]:
    """Check a verdict (the verifier's dict, or anything with `to_json`) and pull out
    what is stored. Inconsistent verdicts are refused rather than stored as successes."""
    if hasattr(verdict, "to_json"):
        verdict = verdict.to_json()
    if not isinstance(verdict, Mapping):
        raise ValueError(f"verdict must be a dict, got {type(verdict).__name__}")
    status = verdict.get("status")
    if status not in STATUSES:
        raise ValueError(f"verdict status {status!r} is not one of {', '.join(STATUSES)}")
    correct = status == "passed"
    if bool(verdict.get("correct", correct)) != correct:
        raise ValueError(f"verdict says correct={verdict.get('correct')!r} with status {status!r}")
    cycles = verdict.get("cycles")
    if cycles is not None:
        if (
            isinstance(cycles, bool)
            or not isinstance(cycles, numbers.Real)
            or not 0 <= cycles < math.inf
        ):
            raise ValueError(f"verdict cycles must be a non-negative number, got {cycles!r}")
        cycles = int(cycles)
    if correct and cycles is None:
        raise ValueError("a passed verdict must carry its cycles")
    metrics = dict(verdict.get("metrics") or {})
    if verdict.get("floor_cycles") is not None:
        metrics.setdefault("floor_cycles", verdict["floor_cycles"])
    feedback = str(verdict.get("feedback") or "")
    bottleneck = str(verdict.get("bottleneck") or "")
    return status, correct, cycles, metrics, feedback, bottleneck


class ExperienceStore:
    """Attempts, best verified solutions and recall over one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"experience store {self.path}: {exc}") from None

    def __reduce__(self) -> tuple:
        """Pickle as the path: a store sent to another process opens its own connections."""
        return (ExperienceStore, (self.path,))

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection (opened once: closing the last connection to a WAL
        file checkpoints it, which would cost a disk sync per operation)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():  # never reuse across fork
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys=ON")
            # WAL + NORMAL: durable across crashes of the program, not synced per commit
            # (a power cut may lose the last attempts, never corrupt the file).
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        yield conn

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taken at once (no lock upgrade, so no deadlock)."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- writing

    def record_attempt(
        self,
        *,
        task: Task,
        program: str,
        model: str,
        prompt_hash: str,
        verdict: Mapping[str, Any],
        parent_id: int | None = None,
        tokens: int = 0,
        cost_usd: float = 0.0,
        seconds: float = 0.0,
        run_id: str = "",
    ) -> int:
        """Store one attempt and return its id; a passed attempt that is faster (or as
        fast and shorter) than the task's best becomes the new best."""
        status, correct, cycles, metrics, feedback, bottleneck = _verdict_fields(verdict)
        ops = " ".join(sorted(program_ops(program, task.dialect)))
        now = time.time()
        with self._write() as conn:
            self._upsert_task(conn, task, now)
            if parent_id is not None:
                row = conn.execute(
                    "SELECT task_key FROM attempts WHERE id=?", (parent_id,)
                ).fetchone()
                if row is None:
                    raise ValueError(f"parent attempt {parent_id} does not exist")
            cursor = conn.execute(
                _INSERT,
                (
                    task.key,
                    program,
                    model,
                    prompt_hash,
                    status,
                    int(correct),
                    cycles,
                    json.dumps(metrics, sort_keys=True, default=_plain),
                    feedback,
                    bottleneck,
                    int(tokens),
                    float(cost_usd),
                    float(seconds),
                    parent_id,
                    run_id,
                    now,
                    ops,
                ),
            )
            attempt_id = int(cursor.lastrowid)
            if correct:
                current = conn.execute(
                    "SELECT cycles, length FROM best WHERE task_key=?", (task.key,)
                ).fetchone()
                if current is None or (cycles, len(program)) < tuple(current):
                    conn.execute(
                        "INSERT OR REPLACE INTO best (task_key, attempt_id, cycles, length)"
                        " VALUES (?,?,?,?)",
                        (task.key, attempt_id, cycles, len(program)),
                    )
        return attempt_id

    def _upsert_task(self, conn: sqlite3.Connection, task: Task, now: float) -> None:
        ops = " ".join(sorted(task_ops(task)))
        exists = conn.execute("SELECT 1 FROM tasks WHERE key=?", (task.key,)).fetchone()
        if exists:
            conn.execute(
                "UPDATE tasks SET description=?, ops=? WHERE key=?",
                (task.description, ops, task.key),
            )
            conn.execute("DELETE FROM task_text WHERE key=?", (task.key,))
        else:
            conn.execute(
                "INSERT INTO tasks (key, dialect, name, description, ops, first_seen)"
                " VALUES (?,?,?,?,?,?)",
                (task.key, task.dialect, task.name, task.description, ops, now),
            )
        conn.execute(
            "INSERT INTO task_text (key, name, description) VALUES (?,?,?)",
            (task.key, task.name.replace("_", " "), task.description),
        )

    # -- reading

    def get(self, attempt_id: int) -> Attempt | None:
        with self._connect() as conn:
            row = conn.execute(f"{_SELECT} WHERE a.id=?", (attempt_id,)).fetchone()
        return _attempt(row) if row else None

    def best(self, task_key: str) -> Attempt | None:
        """The task's fastest verified program (ties: the shortest)."""
        with self._connect() as conn:
            row = conn.execute(
                f"{_SELECT} JOIN best b ON a.id = b.attempt_id"
                " WHERE b.task_key=? AND a.status='passed' AND a.correct=1",
                (task_key,),
            ).fetchone()
        return _attempt(row) if row else None

    def attempts(self, task_key: str | None = None, run_id: str | None = None) -> list[Attempt]:
        """Attempts in the order they were recorded, optionally for one task and/or run."""
        where, args = [], []
        if task_key is not None:
            where.append("a.task_key=?")
            args.append(task_key)
        if run_id is not None:
            where.append("a.run_id=?")
            args.append(run_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._connect() as conn:
            rows = conn.execute(f"{_SELECT}{clause} ORDER BY a.id", args).fetchall()
        return [_attempt(r) for r in rows]

    def lineage(self, attempt_id: int) -> list[Attempt]:
        """The chain from the first ancestor down to this attempt (repairs, optimisations)."""
        chain: list[Attempt] = []
        seen: set[int] = set()
        current: int | None = attempt_id
        while current is not None and current not in seen:
            seen.add(current)
            attempt = self.get(current)
            if attempt is None:
                break
            chain.append(attempt)
            current = attempt.parent_id
        return chain[::-1]

    def recall(self, task: Task, k: int = 3) -> list[Attempt]:
        """Verified solutions of tasks similar to `task`, at most one per task.

        Similar means: same dialect, and either the same task, shared op names (the task
        spec's functions against the other task's spec and program), or a description
        among the `FTS_NEIGHBOURS` best full-text (bm25) matches of this one's. Ranked
        by the same task first, then by the number of shared signals (ops in common,
        plus one for a description match), then shortest program first — short verified
        programs are the best demonstrations (the seed paper's finding).
        """
        if k <= 0:
            return []
        wanted = task_ops(task)
        query = fts_query(f"{task.name.replace('_', ' ')} {task.description}")
        with self._connect() as conn:
            text_hits: set[str] = set()
            if query:
                text_hits = {
                    key
                    for (key,) in conn.execute(
                        "SELECT key FROM task_text WHERE task_text MATCH ? ORDER BY rank LIMIT ?",
                        (query, FTS_NEIGHBOURS + 1),
                    )
                }
            # Rank on a few columns of every candidate; load only the chosen attempts.
            rows = conn.execute(
                f"SELECT a.id, a.task_key, length(a.program), t.ops, a.program_ops{_FROM}"
                " WHERE t.dialect=? AND a.status='passed' AND a.correct=1",
                (task.dialect,),
            ).fetchall()
            best_per_task: dict[str, tuple[int, int, int, int]] = {}
            for attempt_id, task_key, length, their_ops, its_ops in rows:
                same = task_key == task.key
                shared = len(wanted & (set(their_ops.split()) | set(its_ops.split())))
                signals = shared + (task_key in text_hits)
                if not same and signals == 0:
                    continue
                rank = (-int(same), -signals, length, attempt_id)
                if task_key not in best_per_task or rank < best_per_task[task_key]:
                    best_per_task[task_key] = rank
            chosen = [rank[-1] for rank in sorted(best_per_task.values())[:k]]
            marks = ",".join("?" * len(chosen))
            loaded = {
                row[0]: _attempt(row)
                for row in conn.execute(f"{_SELECT} WHERE a.id IN ({marks})", chosen)
            }
        return [loaded[attempt_id] for attempt_id in chosen]

    def success_counts(self, dialect: str | None = None) -> dict[str, int]:
        """Verified attempts per solved task: how easily each task was solved (the seed
        paper's measure of how hard-earned a solution is)."""
        clause, args = ("", ()) if dialect is None else (" AND t.dialect=?", (dialect,))
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT a.task_key, COUNT(*){_FROM} WHERE a.status='passed' AND a.correct=1"
                f"{clause} GROUP BY a.task_key ORDER BY a.task_key",
                args,
            ).fetchall()
        return dict(rows)

    def shortest_verified(self, task_keys: list[str]) -> list[Attempt]:
        """The shortest verified program of each of these tasks (ties: the faster, then the
        older), shortest first."""
        if not task_keys:
            return []
        marks = ",".join("?" * len(task_keys))
        with self._connect() as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE a.status='passed' AND a.correct=1 AND a.task_key IN ({marks})"
                " ORDER BY length(a.program), a.cycles, a.id",
                task_keys,
            ).fetchall()
        chosen: dict[str, Attempt] = {}
        for row in rows:
            attempt = _attempt(row)
            chosen.setdefault(attempt.task_key, attempt)
        return list(chosen.values())

    def stats(self) -> dict[str, Any]:
        """Counts for `agent memory`: tasks seen and solved, attempts by status and model,
        tokens and cost spent, runs."""
        with self._connect() as conn:
            one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
            by_status = dict(conn.execute("SELECT status, COUNT(*) FROM attempts GROUP BY status"))
            by_model = {
                model: {"attempts": n, "passed": p, "tokens": t, "cost_usd": round(c, 6)}
                for model, n, p, t, c in conn.execute(
                    "SELECT model, COUNT(*), SUM(correct), SUM(tokens), SUM(cost_usd)"
                    " FROM attempts GROUP BY model ORDER BY model"
                )
            }
            by_dialect = {
                dialect: {"tasks": n, "solved": s}
                for dialect, n, s in conn.execute(
                    "SELECT t.dialect, COUNT(*), COUNT(b.task_key) FROM tasks t"
                    " LEFT JOIN best b ON b.task_key = t.key GROUP BY t.dialect ORDER BY t.dialect"
                )
            }
            return {
                "path": str(self.path),
                "tasks": one("SELECT COUNT(*) FROM tasks"),
                "solved": one("SELECT COUNT(*) FROM best"),
                "attempts": one("SELECT COUNT(*) FROM attempts"),
                "by_status": {s: by_status.get(s, 0) for s in STATUSES},
                "by_model": by_model,
                "by_dialect": by_dialect,
                "runs": one("SELECT COUNT(DISTINCT run_id) FROM attempts WHERE run_id != ''"),
                "tokens": one("SELECT COALESCE(SUM(tokens), 0) FROM attempts"),
                "cost_usd": round(one("SELECT COALESCE(SUM(cost_usd), 0) FROM attempts"), 6),
            }
