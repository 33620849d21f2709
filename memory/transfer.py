"""Attempts out of one store and into another: `agent memory export` and `agent memory import`.

Export is also the way out of a damaged store: it never writes to the file, and it reads every
row that can still be read, going around the pages that cannot (a scan that fails is resumed
past the damage, and the stretch it skipped is read row by row). The file it writes is JSON
Lines: a header, then one object per task and per attempt, in the order they were stored.

Import takes such a file into a store (usually a fresh one). It checks every attempt as the
store checks a new one, renumbers them (keeping lineage among the imported), recomputes the
best programs, and skips attempts the store already has, so importing twice adds nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memory.errors import StoreDamaged, StoreError
from memory.schema import program_hash
from memory.store import ATTEMPT_FIELDS, STATUSES, ExperienceStore, insert_attempt

FORMAT = "agent-memory-export"
VERSION = 1
TASK_COLUMNS = (
    "key",
    "dialect",
    "name",
    "description",
    "ops",
    "first_seen",
    "features",
    "baseline_cycles",
)
# The stored attempt's fields (the store's own list) plus the op list it was indexed by.
ATTEMPT_COLUMNS = (*ATTEMPT_FIELDS[:3], "program_ops", *ATTEMPT_FIELDS[3:])
_LARGEST_ROWID = 2**63 - 1


@dataclass(frozen=True)
class Exported:
    tasks: int
    attempts: int
    damaged_stretches: int  # places where rows could not be read


@dataclass(frozen=True)
class Imported:
    attempts: int  # added
    duplicates: int  # already in the store
    unusable: int  # rows that do not make a valid attempt (garbled by damage, say)


def export_store(source: Path, out: Path) -> Exported:
    """Write every readable task and attempt of the store at `source` to `out`."""
    conn = _open_for_reading(source)
    try:
        present = {row[1] for row in conn.execute("PRAGMA table_info(attempts)")}
        has = {row[1] for row in conn.execute("PRAGMA table_info(tasks)")}
        tasks, task_damage = _readable_rows(conn, "tasks", TASK_COLUMNS, has)
        attempts, attempt_damage = _readable_rows(conn, "attempts", ATTEMPT_COLUMNS, present)
    except sqlite3.DatabaseError as exc:  # not even the list of tables can be read
        raise StoreDamaged(source, f"nothing in it is readable: {exc}") from None
    finally:
        conn.close()
    try:
        with open(out, "w", encoding="utf-8") as file:
            header = {"format": FORMAT, "version": VERSION, "source": str(source)}
            file.write(json.dumps(header) + "\n")
            for row in tasks:
                file.write(json.dumps({"task": dict(zip(TASK_COLUMNS, row, strict=True))}) + "\n")
            for row in attempts:
                attempt = dict(zip(ATTEMPT_COLUMNS, row, strict=True))
                file.write(json.dumps({"attempt": attempt}) + "\n")
    except OSError as exc:
        raise StoreError(f"cannot write {out}: {exc.strerror or exc}") from None
    return Exported(len(tasks), len(attempts), task_damage + attempt_damage)


def _open_for_reading(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise StoreError(f"no experience store at {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreDamaged(path, f"nothing in it is readable: {exc}") from None
    # Text garbled by damage still comes out (the import judges it), not as an exception.
    conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
    return conn


def _readable_rows(
    conn: sqlite3.Connection, table: str, columns: tuple[str, ...], present: set[str] | None
) -> tuple[list[tuple], int]:
    """The rows of `table` that can be read, in rowid order, and how many damaged stretches
    were skipped. Columns missing from an older store come out as None."""
    select = ", ".join(c if present is None or c in present else "NULL" for c in columns)
    rows: list[tuple] = []
    after, damaged = 0, 0
    while True:
        try:
            for row in conn.execute(
                f"SELECT rowid, {select} FROM {table} WHERE rowid > ? ORDER BY rowid", (after,)
            ):
                rows.append(row[1:])
                after = row[0]
            return rows, damaged
        except sqlite3.DatabaseError:
            damaged += 1
        found = _next_readable(conn, table, after)
        if found is None:  # every search past here meets the damage: nothing more to read
            return rows, damaged
        resume, reach = found
        # The stretch searched, one rowid at a time (the resume point too: a row whose rowid
        # can be found may still be unreadable, and the scan must move on).
        for rowid in range(after + 1, min(resume, reach) + 1):
            try:
                row = conn.execute(
                    f"SELECT {select} FROM {table} WHERE rowid = ?", (rowid,)
                ).fetchone()
            except sqlite3.DatabaseError:
                continue
            if row is not None:
                rows.append(row)
        after = resume


def _next_readable(conn: sqlite3.Connection, table: str, after: int) -> tuple[int, int] | None:
    """(a rowid past `after` from which a scan can start again, the rowid the successful
    search started at): searches from ever larger steps past `after` until one succeeds, so
    the stretch jumped is at most twice the damaged one; no row lies between the two. None
    when every search fails."""
    step = 1
    while after + step <= _LARGEST_ROWID:
        try:
            found = conn.execute(
                f"SELECT rowid FROM {table} WHERE rowid >= ? ORDER BY rowid LIMIT 1",
                (after + step,),
            ).fetchone()
        except sqlite3.DatabaseError:
            step *= 2
            continue
        return (found[0] if found is not None else after + step), after + step
    return None


def import_records(source: Path, store: ExperienceStore) -> Imported:
    """Add the tasks and attempts of an export file to `store`."""
    tasks, attempts = _read_export(source)

    def work(conn: sqlite3.Connection) -> Imported:
        for task in tasks.values():
            _ensure_task(conn, task)
        renumbered: dict[Any, int] = {}
        added = duplicates = unusable = 0
        for attempt in attempts:
            row = _attempt_row(attempt, renumbered)
            if row is None:
                unusable += 1
                continue
            if row["task_key"] not in tasks:  # its task's row was lost: keep what the key says
                dialect, _, name = row["task_key"].partition("/")
                _ensure_task(conn, {"key": row["task_key"], "dialect": dialect, "name": name})
            existing = conn.execute(
                "SELECT id FROM attempts WHERE run_id=? AND task_key=? AND program_hash IS ?"
                " AND created=?",
                (row["run_id"], row["task_key"], program_hash(row["program"]), row["created"]),
            ).fetchone()
            if existing is not None:
                attempt_id, new = int(existing[0]), False
            else:
                attempt_id, new = insert_attempt(conn, row)
            renumbered[attempt.get("id")] = attempt_id
            added, duplicates = added + new, duplicates + (not new)
        return Imported(added, duplicates, unusable)

    return store.transaction(work)


def _read_export(source: Path) -> tuple[dict[str, dict], list[dict]]:
    tasks: dict[str, dict] = {}
    attempts: list[dict] = []
    try:
        with open(source, encoding="utf-8", errors="replace") as file:
            lines: Iterator[str] = iter(file)
            header = _json_line(next(lines, ""))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise StoreError(f"{source}: not an `agent memory export` file")
            for number, line in enumerate(lines, start=2):
                record = _json_line(line)
                if isinstance(record, dict) and isinstance(record.get("task"), dict):
                    task = record["task"]
                    if isinstance(task.get("key"), str):
                        tasks[task["key"]] = task
                elif isinstance(record, dict) and isinstance(record.get("attempt"), dict):
                    attempts.append(record["attempt"])
                elif line.strip():
                    raise StoreError(f"{source}:{number}: not a task or an attempt")
    except OSError as exc:
        raise StoreError(f"cannot read {source}: {exc.strerror or exc}") from None
    return tasks, attempts


def _json_line(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _ensure_task(conn: sqlite3.Connection, task: dict) -> None:
    key = str(task["key"])
    baseline = task.get("baseline_cycles")
    values = (
        key,
        str(task.get("dialect") or key.partition("/")[0]),
        str(task.get("name") or key.partition("/")[2]),
        str(task.get("description") or ""),
        str(task.get("ops") or ""),
        float(task.get("first_seen") or 0.0),
        str(task.get("features") or "{}"),
        int(baseline) if isinstance(baseline, int | float) and baseline > 0 else None,
    )
    conn.execute(
        "INSERT OR IGNORE INTO tasks"
        " (key, dialect, name, description, ops, first_seen, features, baseline_cycles)"
        " VALUES (?,?,?,?,?,?,?,?)",
        values,
    )


def _attempt_row(attempt: dict, renumbered: dict[Any, int]) -> dict[str, Any] | None:
    """The attempt as the store inserts it, or None when it is not a valid one."""
    try:
        row = {
            "task_key": _text(attempt["task_key"]),
            "program": _text(attempt["program"]),
            "program_ops": _text(attempt.get("program_ops") or ""),
            "model": _text(attempt["model"]),
            "prompt_hash": _text(attempt["prompt_hash"]),
            "status": _text(attempt["status"]),
            "correct": int(attempt["correct"]),
            "cycles": None if attempt["cycles"] is None else int(attempt["cycles"]),
            "metrics": json.dumps(json.loads(attempt["metrics"]), sort_keys=True),
            "feedback": _text(attempt["feedback"]),
            "bottleneck": _text(attempt["bottleneck"]),
            "tokens": int(attempt["tokens"]),
            "cost_usd": float(attempt["cost_usd"]),
            "seconds": float(attempt["seconds"]),
            "parent_id": renumbered.get(attempt.get("parent_id")),
            "run_id": _text(attempt["run_id"]),
            "created": float(attempt["created"]),
            "round": None if attempt.get("round") is None else int(attempt["round"]),
        }
    except (KeyError, TypeError, ValueError):
        return None
    passed = row["status"] == "passed"
    if (
        row["status"] not in STATUSES
        or "/" not in row["task_key"]
        or row["correct"] != int(passed)
        or (passed and (row["cycles"] is None or row["cycles"] < 0))
    ):
        return None
    return row


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value
