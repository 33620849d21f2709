"""The run folder's files: one writer at a time, atomic writes, and damage found on resume.

A run folder is written by one process (the lock), every file in it is replaced whole
(temp file, fsync, rename: a reader or a killed run never sees half a file), and a resume
checks what it reopens. What it cannot read it sets aside (`<name>.damaged-<time>`, never
deleted) and rebuilds: `run.json` from the copy results.json keeps, the checkpoints from
nothing (tasks that results.json marks finished are then not run again). What cannot be
rebuilt stops the resume with one line naming the file and the cause.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RUN_FILE = "run.json"
RESULTS_FILE = "results.json"
CHECKPOINTS_FILE = "checkpoints.sqlite"
LOCK_FILE = "run.lock"
FULL_BELOW_BYTES = 1 << 20  # a disk with less free space than this counts as full
# What run.json must hold, with the JSON types each key takes.
RUN_KEYS: dict[str, tuple[type, ...]] = {
    "run_id": (str,),
    "suite": (str,),
    "tasks": (list,),
    "model": (str,),
    "started": (int, float),
    "settings": (dict,),
}


class RunError(Exception):
    """The run cannot start as asked (the message says what to change)."""


class DamagedFile(RunError):
    """A run-folder file that exists but cannot be used (the message names it and why)."""


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` whole: a temp file in the same folder, synced, renamed
    over it, and the folder synced, so a crash or SIGKILL leaves the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_json(path: Path, data: Any, *, indent: int | None = 2) -> None:
    write_atomic(path, json.dumps(data, indent=indent))


@contextlib.contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """Hold the run folder for this process: a second run on it is refused at once.

    An flock on `run.lock`, released by the kernel when the process ends however it ends,
    so a killed run never leaves the folder locked. The file keeps the holder's pid for
    the refusal message (it is never deleted: deleting it would race a new holder).
    """
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunError(
                f"{folder} is in use by another run (pid {holder}); wait for it to end"
                " or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def holds_a_run(folder: Path) -> str | None:
    """The file that shows `folder` already holds (part of) a run, if any."""
    for name in (RUN_FILE, RESULTS_FILE, CHECKPOINTS_FILE, "tasks"):
        if (folder / name).exists():
            return name
    return None


def set_aside(path: Path) -> Path:
    """Move a damaged file out of the way (kept for a post-mortem, never deleted), with
    SQLite's -wal and -shm beside it: a stale log must not be replayed into a new store."""
    kept = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            os.replace(part, kept.with_name(kept.name + suffix))
    return kept


def _load_json(path: Path) -> Any:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise DamagedFile(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise DamagedFile(f"{path}: not JSON (invalid UTF-8 at byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DamagedFile(
            f"{path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None


def _type_names(types: tuple[type, ...]) -> str:
    names = {str: "a string", list: "a list", dict: "an object", int: "a number"}
    return " or ".join(dict.fromkeys(names.get(t, "a number") for t in types))


def check_run(run: Any, where: Path) -> dict[str, Any]:
    """`run` if it has run.json's shape; else `DamagedFile` saying what is wrong."""
    if not isinstance(run, dict):
        raise DamagedFile(f"{where}: not a JSON object (holds {_json_kind(run)})")
    missing = [key for key in RUN_KEYS if key not in run]
    if missing:
        raise DamagedFile(f"{where}: missing {', '.join(missing)}")
    for key, types in RUN_KEYS.items():
        value = run[key]
        if not isinstance(value, types) or isinstance(value, bool):
            raise DamagedFile(
                f"{where}: {key!r} must be {_type_names(types)}, not {_json_kind(value)}"
            )
    if not all(isinstance(t, str) for t in run["tasks"]):
        raise DamagedFile(f"{where}: 'tasks' must list task names (strings)")
    seed = run.get("timing_seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise DamagedFile(f"{where}: 'timing_seed' must be an integer, not {_json_kind(seed)}")
    return run


def _json_kind(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return kinds.get(type(value), "a number")


def read_run(folder: Path) -> dict[str, Any]:
    """run.json, checked (`DamagedFile` naming the file and the cause otherwise)."""
    path = folder / RUN_FILE
    return check_run(_load_json(path), path)


def read_results(path: Path, *, need_run: bool = True) -> dict[str, Any]:
    """results.json, checked enough to merge into or report on (`DamagedFile` otherwise:
    "<path>: not a results file (<cause>)"). A resume needs the `run` it belongs to."""
    try:
        results = _load_json(path)
    except DamagedFile as exc:
        raise DamagedFile(f"{path}: not a results file ({str(exc).split(': ', 1)[1]})") from None

    def damaged(cause: str) -> DamagedFile:
        return DamagedFile(f"{path}: not a results file ({cause})")

    if not isinstance(results, dict):
        raise damaged(f"holds {_json_kind(results)}, not an object")
    required = {"tasks": list, "summary": dict} | ({"run": dict} if need_run else {})
    missing = [key for key in required if key not in results]
    if missing:
        raise damaged(f"no {' or '.join(missing)}")
    for key, kind in required.items():
        if not isinstance(results[key], kind):
            raise damaged(f"{key!r} is {_json_kind(results[key])}, not {_type_names((kind,))}")
    for i, entry in enumerate(results["tasks"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("task"), str):
            raise damaged(f"task entry {i} is not an object with a 'task' name")
        if not isinstance(entry.get("status"), str) or not isinstance(entry.get("correct"), bool):
            raise damaged(f"task entry {i} ({entry['task']}) lacks status or correct")
    results.setdefault("run", {})
    return results


def checkpoint_damage(path: Path) -> str | None:
    """Why the checkpoint store cannot be trusted, or None when it reads as sound.

    `quick_check` reads every page, so garbage written over pages is found here rather
    than as a resume that "succeeds" on half a state.
    """
    try:
        conn = sqlite3.connect(path)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    problems = [str(r[0]) for r in rows if r and r[0] != "ok"]
    return problems[0] if problems else None


def disk_full(exc: BaseException, where: Path | None = None) -> bool:
    """A full disk, as the OS (errno 28) or SQLite ("database or disk is full") says it —
    or as SQLite says it when the full disk fails a write to its log or shared memory ("disk
    I/O error"): then the folder `where` is on is checked for free space."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    if "disk is full" in str(exc):
        return True
    io_error = str(getattr(exc, "sqlite_errorname", "")).startswith("SQLITE_IOERR")
    if not (io_error or "disk I/O error" in str(exc)) or where is None:
        return False
    try:
        space = os.statvfs(where if where.is_dir() else where.parent)
    except OSError:
        return False
    return space.f_bavail * space.f_frsize < FULL_BELOW_BYTES
