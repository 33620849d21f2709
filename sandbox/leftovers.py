"""What runs killed with SIGKILL leave behind, found and removed by the next run.

A run's temporary folder and its container are named `agent-sandbox-<pid>.<start>-<random>`:
the pid of the process that made them and that process's start time (in clock ticks since
boot, from /proc), so that a pid taken over by a newer process does not pass for the owner.
A later run removes only what belongs to an owner that is gone; a live run's folder or
container is never touched, whoever owns it. Names without an owner tag (from older
versions) are left alone: nothing tells whether their owner still runs.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

RUN_PREFIX = "agent-sandbox-"
_OWNED = re.compile(rf"{re.escape(RUN_PREFIX)}(\d+)\.(\d+)-")


def start_time(pid: int) -> str | None:
    """The process's start time since boot (field 22 of /proc/<pid>/stat), or None when no
    such process exists."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_tag(pid: int | None = None) -> str:
    """`<pid>.<start time>` of this process (or of `pid`)."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}.{start_time(pid) or 0}"


def orphaned(name: str) -> bool:
    """Whether `name` carries an owner tag whose process is gone."""
    match = _OWNED.match(name)
    if match is None:
        return False
    pid, started = match.groups()
    return start_time(int(pid)) != started


def sweep_folders(directory: str | None = None) -> list[Path]:
    """Remove the orphaned run folders in `directory` (the temporary folder by default);
    return what was removed. A folder that cannot be removed is logged and left."""
    root = Path(directory or tempfile.gettempdir())
    removed = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not orphaned(entry.name) or not entry.is_dir() or entry.is_symlink():
            continue
        try:
            shutil.rmtree(entry)
        except FileNotFoundError:  # its owner's successor removed it meanwhile
            continue
        except OSError as exc:
            log.warning("cannot remove the leftover sandbox folder %s: %s", entry, exc)
            continue
        removed.append(entry)
    return removed
