"""The experience store's file: its tables, their migrations, the check that it is sound,
and the one-line error for each way SQLite or the disk can fail it (memory/errors.py)."""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
from pathlib import Path

from memory.errors import StoreDamaged, StoreError, StoreFull, StoreLocked

SCHEMA = """
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
"""


# Each step brings a store from the version before it to its own (PRAGMA user_version).
MIGRATIONS = (
    # 1: attempts unique by (run, task, program hash, round). Rows from before have no round
    # (NULL, and NULLs never collide), and attempts outside a run (run_id '') or without a
    # program are all kept.
    """
    ALTER TABLE attempts ADD COLUMN program_hash TEXT;
    ALTER TABLE attempts ADD COLUMN round INTEGER;
    UPDATE attempts SET program_hash = program_hash(program);
    CREATE UNIQUE INDEX attempts_once ON attempts(run_id, task_key, program_hash, round)
        WHERE run_id != '';
    """,
    # 2: what recall compares besides ops and words (features.task_features, JSON), and the
    # task's baseline cycles, so an example can say how fast it is against its baseline.
    """
    ALTER TABLE tasks ADD COLUMN features TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE tasks ADD COLUMN baseline_cycles INTEGER;
    """,
    # 3: recall compares description words itself (memory/recall.py): the full-text index
    # it used to query goes.
    """
    DROP TABLE IF EXISTS task_text;
    """,
)


def program_hash(program: str) -> str | None:
    """What identifies a program among a run's attempts (its exact text). None for no
    program at all (a model call that failed): NULLs never collide, so each failed call is
    kept, with what it cost."""
    return hashlib.sha256(program.encode()).hexdigest()[:32] if program else None


def set_up(conn: sqlite3.Connection) -> None:
    """WAL mode, the tables, and the migrations this file has not had yet."""
    conn.create_function("program_hash", 1, program_hash, deterministic=True)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA)
    conn.execute("BEGIN IMMEDIATE")  # one opener migrates; the others then see it done
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, step.split(";")):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
        conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def check(conn: sqlite3.Connection, path: Path, shortfall: int) -> None:
    """Raise `StoreDamaged` unless the file is whole (`shortfall`: `missing_bytes`, read
    before `conn` opened the file) and SQLite finds it sound."""
    if shortfall:
        raise StoreDamaged(path, f"the file is cut short: {shortfall} bytes missing")
    problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        raise StoreDamaged(path, f"quick_check: {' '.join(problems[0].split())}{more}")


def missing_bytes(path: Path) -> int:
    """How many bytes the database file lacks, judged from its header: SQLite reads a file
    cut short as if zeros followed, which quick_check need not notice (the zeros may fall
    in a row's text). 0 for a whole file, a missing one, or one SQLite will call damaged."""
    try:
        with open(path, "rb") as file:
            header = file.read(100)
        size = os.path.getsize(path)
    except OSError:
        return 0
    if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
        return 0
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    partial = -size % page_size if page_size else 0  # no writer ever leaves part of a page
    # The header's page count holds while the change counter matches its copy, and while
    # no other connection may be checkpointing (a checkpoint writes page 1 first).
    wal = path.with_name(path.name + "-wal")
    try:
        settled = wal.stat().st_size == 0
    except OSError:  # no WAL: no connection is open
        settled = True
    if settled and pages and header[24:28] == header[92:96]:
        return max(pages * page_size - size, partial)
    return partial


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether another connection's lock is all that stood in the way."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(exc)


def fault(path: Path, exc: sqlite3.Error | OSError, waited: float) -> StoreError:
    """The one-line `StoreError` for what SQLite or the file system said."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == sqlite3.SQLITE_FULL or getattr(exc, "errno", None) == errno.ENOSPC:
        return StoreFull(path)
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return StoreDamaged(path, " ".join(str(exc).split()))
    if isinstance(exc, sqlite3.Error) and is_busy(exc):
        return StoreLocked(
            f"experience store {path} stayed locked by another process for {waited:.0f} s; "
            "run again when that process is done"
        )
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
    return StoreError(f"experience store {path}: {' '.join(str(reason).split())}")
