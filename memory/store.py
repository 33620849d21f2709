"""The experience store: every attempt on every task, and what can be learned from them.

One SQLite file in WAL mode, so readers never block the writer and several processes
(parallel runs, a nightly improve loop, `agent memory`) can share it. Each thread uses
its own connection, and every write is one short `BEGIN IMMEDIATE` transaction under a
busy timeout, retried while another process holds the lock (a lock held for minutes delays
a run; only one held past `patience` stops it, with `StoreLocked`). Opening a store checks it
(`PRAGMA quick_check`), so damage is reported at once with the way to recover, not found
after more writes; a full disk is `StoreFull`. Every fault is a one-line `StoreError`
(memory/errors.py). Attempts are unique by (run, task, program hash, round): replaying a run
cannot add them twice.

Only programs the verifier passed can come back out as examples (`best`, `recall`): the
status is checked in the queries themselves, so a failed or rejected attempt — including
any reward hack the verifier caught — never becomes a lesson.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import numbers
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from memory import maintenance, schema
from memory.errors import StoreError  # callers import it from here too
from memory.features import program_ops, task_features, task_ops
from memory.recall import ImprovementPair, Relevance, improvement_pair, similar_tasks

if TYPE_CHECKING:
    from benchmarks.task import Task

log = logging.getLogger(__name__)
T = TypeVar("T")

STATUSES = ("passed", "incorrect", "invalid", "error", "timeout", "rejected", "not_covered")
BUSY_TIMEOUT_S = 5.0
"""How long SQLite itself waits for a lock before a write is retried."""
RECALLED_MODEL = "memory"
"""The model name of an attempt that re-verified a stored program (no model wrote it)."""
PATIENCE_S = 900.0
"""How long a write waits in all for a lock another process holds before `StoreLocked`."""


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
    round: int | None = None  # the solve round that made it; None before rounds were kept
    task_description: str = ""
    baseline_cycles: int | None = None  # the task's, when a run has measured it

    @property
    def verified(self) -> bool:
        return self.status == "passed" and self.correct

    @property
    def speedup(self) -> float | None:
        """Baseline cycles over this program's (below 1: slower than the baseline)."""
        if self.baseline_cycles and self.cycles:
            return self.baseline_cycles / self.cycles
        return None


ATTEMPT_FIELDS = (
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
    "round",
)
# Every read joins the task, so an attempt carries its task's description and baseline.
_COLUMNS = ", ".join(f"a.{f}" for f in ATTEMPT_FIELDS) + ", t.description, t.baseline_cycles"
_FROM = " FROM attempts a JOIN tasks t ON t.key = a.task_key"
_SELECT = f"SELECT {_COLUMNS}{_FROM}"
_INSERT = (
    f"INSERT OR IGNORE INTO attempts ({', '.join(ATTEMPT_FIELDS[1:])}, program_ops, program_hash)"
    f" VALUES ({', '.join('?' * (len(ATTEMPT_FIELDS) + 1))})"
)


def _attempt(row: tuple) -> Attempt:
    """A row of `_SELECT` (the attempt's columns in `ATTEMPT_FIELDS` order, then the task's
    description and baseline)."""
    values = list(row)
    values[ATTEMPT_FIELDS.index("correct")] = bool(values[ATTEMPT_FIELDS.index("correct")])
    values[ATTEMPT_FIELDS.index("metrics")] = json.loads(values[ATTEMPT_FIELDS.index("metrics")])
    return Attempt(*values)


def insert_attempt(conn: sqlite3.Connection, row: Mapping[str, Any]) -> tuple[int, bool]:
    """Insert one attempt (the columns of `ATTEMPT_FIELDS` but `id`, and `program_ops`) and
    offer it as its task's best; (its id, whether it is new). An attempt already stored by
    (run, task, program hash, round) is not stored again: its id comes back."""
    key = (row["run_id"], row["task_key"], schema.program_hash(row["program"]), row["round"])
    values = [row[f] for f in ATTEMPT_FIELDS[1:]] + [row["program_ops"], key[2]]
    cursor = conn.execute(_INSERT, values)
    if cursor.rowcount == 0:
        existing = conn.execute(
            "SELECT id FROM attempts WHERE run_id=? AND task_key=? AND program_hash=? AND round=?",
            key,
        ).fetchone()
        return int(existing[0]), False
    attempt_id = int(cursor.lastrowid)
    if row["status"] == "passed" and row["correct"]:
        current = conn.execute(
            "SELECT cycles, length FROM best WHERE task_key=?", (row["task_key"],)
        ).fetchone()
        if current is None or (row["cycles"], len(row["program"])) < tuple(current):
            conn.execute(
                "INSERT OR REPLACE INTO best (task_key, attempt_id, cycles, length)"
                " VALUES (?,?,?,?)",
                (row["task_key"], attempt_id, row["cycles"], len(row["program"])),
            )
    return attempt_id, True


def _reopen(path: Path, busy_timeout: float, patience: float) -> ExperienceStore:
    return ExperienceStore(path, busy_timeout=busy_timeout, patience=patience, check=False)


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
    """Attempts, best verified solutions and recall over one SQLite file.

    `busy_timeout` and `patience` (seconds) say how long a write waits for another process's
    lock: once inside SQLite, and in all across retries. `check=False` skips the damage check
    (for a store already checked by the process that sent it here).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = BUSY_TIMEOUT_S,
        patience: float = PATIENCE_S,
        check: bool = True,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout, self.patience = busy_timeout, patience
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            blocker = next(p for p in self.path.parents if p.exists() and not p.is_dir())
            raise StoreError(
                f"experience store {self.path}: cannot make its folder, {blocker} is a file"
            ) from None
        except OSError as exc:
            raise schema.fault(self.path, exc, 0.0) from None
        if check:
            # Read the file's header before this thread's connection touches the file: a
            # close of any descriptor of it drops every POSIX lock this process holds on it
            # (SQLite's too), after which another connection's close may checkpoint and cut
            # the WAL under this one (SQLITE_IOERR_SHORT_READ on its next write).
            shortfall = schema.missing_bytes(self.path)
            with self._connect() as conn:
                schema.check(conn, self.path, shortfall)
        self.transaction(schema.set_up, begin=False)

    def __reduce__(self) -> tuple:
        """Pickle as the path and waits: a store sent to another process opens its own
        connections there (unchecked: the sender checked it)."""
        return (_reopen, (self.path, self.busy_timeout, self.patience))

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (opened once: closing the last connection to a WAL
        file checkpoints it, which would cost a disk sync per operation)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():  # never reuse across fork
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys=ON")
            # WAL + NORMAL: durable across crashes of the program, not synced per commit
            # (a power cut may lose the last attempts, never corrupt the file).
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, for reading; any fault becomes a `StoreError`."""
        try:
            yield self._connection()
        except (sqlite3.Error, OSError) as exc:
            raise schema.fault(self.path, exc, self.busy_timeout) from None

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def transaction(self, work: Callable[[sqlite3.Connection], T], *, begin: bool = True) -> T:
        """Run `work` in one short write transaction, taken at once (no lock upgrade, so no
        deadlock); while another process holds the lock, wait and run it again, up to
        `patience` seconds in all. `begin=False`: `work` manages its own transactions."""
        started, delay, warned = time.monotonic(), 0.05, False
        while True:
            try:
                conn = self._connection()
                if not begin:
                    return work(conn)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                    conn.execute("COMMIT")
                    return result
                finally:
                    if conn.in_transaction:  # SQLite may have rolled back already
                        with contextlib.suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
            except (sqlite3.Error, OSError) as exc:
                waited = time.monotonic() - started
                if not isinstance(exc, sqlite3.Error) or not schema.is_busy(exc):
                    raise schema.fault(self.path, exc, waited) from None
                if waited >= self.patience:
                    raise schema.fault(self.path, exc, waited) from None
                if not warned:
                    log.warning(
                        "experience store %s is locked by another process; waiting (up to %g s)",
                        self.path,
                        self.patience,
                    )
                    warned = True
                time.sleep(min(delay, max(self.patience - waited, 0.0)))
                delay = min(delay * 2, 2.0)

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
        round: int = 0,
    ) -> int:
        """Store one attempt and return its id; a passed attempt that is faster (or as
        fast and shorter) than the task's best becomes the new best. The same program for
        the same task in the same run and round is stored once: a replay gets the first
        one's id back."""
        status, correct, cycles, metrics, feedback, bottleneck = _verdict_fields(verdict)
        row = {
            "task_key": task.key,
            "program": program,
            "model": model,
            "prompt_hash": prompt_hash,
            "status": status,
            "correct": int(correct),
            "cycles": cycles,
            "metrics": json.dumps(metrics, sort_keys=True, default=_plain),
            "feedback": feedback,
            "bottleneck": bottleneck,
            "tokens": int(tokens),
            "cost_usd": float(cost_usd),
            "seconds": float(seconds),
            "parent_id": parent_id,
            "run_id": run_id,
            "created": time.time(),
            "program_ops": " ".join(sorted(program_ops(program, task.dialect))),
            "round": int(round),
        }

        def work(conn: sqlite3.Connection) -> int:
            self._upsert_task(conn, task, row["created"])
            if parent_id is not None:
                found = conn.execute("SELECT 1 FROM attempts WHERE id=?", (parent_id,))
                if found.fetchone() is None:
                    raise ValueError(f"parent attempt {parent_id} does not exist")
            return insert_attempt(conn, row)[0]

        return self.transaction(work)

    def _upsert_task(self, conn: sqlite3.Connection, task: Task, now: float) -> None:
        ops = " ".join(sorted(task_ops(task)))
        features = json.dumps(task_features(task), sort_keys=True)
        exists = conn.execute("SELECT 1 FROM tasks WHERE key=?", (task.key,)).fetchone()
        if exists:
            conn.execute(
                "UPDATE tasks SET description=?, ops=?, features=? WHERE key=?",
                (task.description, ops, features, task.key),
            )
        else:
            conn.execute(
                "INSERT INTO tasks (key, dialect, name, description, ops, first_seen, features)"
                " VALUES (?,?,?,?,?,?,?)",
                (task.key, task.dialect, task.name, task.description, ops, now, features),
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
        """The best verified program (fastest, then shortest) of each task similar to
        `task`, the task itself first, then the most relevant (memory/recall.py says what
        similar means and where the relevance floor is); at most `k`."""
        if k <= 0:
            return []
        keys = [key for key, _ in self.similar(task)[:k]]
        return [b for b in (self.best(key) for key in keys) if b is not None]

    def similar(self, task: Task) -> list[tuple[str, Relevance]]:
        """Solved tasks of `task`'s dialect above the relevance floor, most similar first."""
        with self._connect() as conn:
            return similar_tasks(conn, task)

    def recall_pair(self, task: Task) -> ImprovementPair | None:
        """The improvement pair of the most relevant task that has one (this task's own
        first): what making a similar program faster looked like."""
        for key, _ in self.similar(task):
            pair = improvement_pair(self.attempts(task_key=key), self.best(key))
            if pair is not None:
                return pair
        return None

    def record_baseline(self, task: Task, cycles: int | None) -> None:
        """Keep the task's baseline cycles, so its examples can show their speedup."""
        if cycles is None:
            return

        def work(conn: sqlite3.Connection) -> None:
            self._upsert_task(conn, task, time.time())
            conn.execute("UPDATE tasks SET baseline_cycles=? WHERE key=?", (int(cycles), task.key))

        self.transaction(work)

    def success_counts(self, dialect: str | None = None) -> dict[str, int]:
        """Distinct verified programs per solved task: how easily each task was solved (the
        seed paper's measure of how hard-earned a solution is, over deduplicated solutions).
        A stored program re-verified by a later run (model `RECALLED_MODEL`) is no new
        success: counting it would make every task that runs often look easy."""
        clause, args = ("", ()) if dialect is None else (" AND t.dialect=?", (dialect,))
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT a.task_key, COUNT(DISTINCT a.program_hash){_FROM}"
                " WHERE a.status='passed' AND a.correct=1 AND a.model != ?"
                f"{clause} GROUP BY a.task_key ORDER BY a.task_key",
                (RECALLED_MODEL, *args),
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

    def tasks(self) -> list[dict[str, Any]]:
        """One summary per task (memory/maintenance.py): for `agent memory ls`."""
        with self._connect() as conn:
            return maintenance.task_rows(conn)

    def prune(self, older_than_days: float, *, dry_run: bool = False) -> int:
        """Remove failed attempts older than this that nothing descends from (never a
        verified program); how many were (or, with `dry_run`, would be) removed."""
        if older_than_days < 0:
            raise ValueError(f"older_than_days must be >= 0, got {older_than_days}")

        def work(conn: sqlite3.Connection) -> int:
            ids = maintenance.prunable(conn, older_than_days)
            return len(ids) if dry_run else maintenance.delete_attempts(conn, ids)

        return self.transaction(work)

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
