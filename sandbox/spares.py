"""Sandboxes started ahead of need, so that a build does not wait for one to start.

Starting a sandbox costs more than most builds: a fresh interpreter and, under bubblewrap, its
namespaces; under docker a container (0.3-1.5 s on this project's machines). So each build
leaves one spare starting behind it, for the same backend and limits, and the next build takes
it. A spare has run nothing of anyone's: it is the harness, isolated, blocked on stdin until
its one request arrives; its rlimits and confinement come with that request, as for a fresh
start. It serves one build and is gone.

Spares belong to the process that started them (a forked child starts its own). They are
stopped when the interpreter exits, and their stdin closing ends them should this process die
without running its exit handlers (a pool worker, a kill). A spare loads its dialect while it
waits, so a dialect edited meanwhile reaches the build after next.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

from sandbox.backends import Backend, new_run_id
from sandbox.limits import Limits


@dataclass
class Started:
    """One started sandbox: its process (the backend's command), run id and private folder."""

    process: subprocess.Popen
    run_id: str
    run_dir: tempfile.TemporaryDirectory
    backend: Backend

    def finish(self) -> int:
        """Kill whatever still runs, wait for the process, close the pipes and remove the
        folder; returns the exit code."""
        if self.process.poll() is None:
            _kill(self.process, self.backend, self.run_id)
        returncode = self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            pipe.close()
        self.run_dir.cleanup()
        return returncode


def start(backend: Backend, limits: Limits, dialect: str) -> Started:
    run_id = new_run_id()
    run_dir = tempfile.TemporaryDirectory(prefix="agent-sandbox-")
    process = subprocess.Popen(
        backend.command(limits, run_id, dialect),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=run_dir.name,
        env=backend.environment(run_dir.name),
        start_new_session=True,
    )
    return Started(process, run_id, run_dir, backend)


class SparePool:
    """At most one spare per (backend, limits, dialect), taken by the next build that
    matches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spares: dict[tuple[str, Limits, str], Started] = {}
        self._owner = os.getpid()

    def take(self, backend: Backend, limits: Limits, dialect: str) -> Started:
        """A started sandbox for one build; a new spare starts behind it."""
        key = (backend.name, limits, dialect)
        with self._lock:
            if self._owner != os.getpid():  # forked: the parent's spares are not ours
                self._spares, self._owner = {}, os.getpid()
            spare = self._spares.pop(key, None)
            self._spares[key] = start(backend, limits, dialect)
        if spare is not None and spare.process.poll() is None:
            return spare
        if spare is not None:  # it died waiting (killed from outside): start afresh
            spare.finish()
        return start(backend, limits, dialect)

    def waiting(self) -> dict[tuple[str, Limits, str], Started]:
        """The spares now waiting, by (backend, limits, dialect)."""
        with self._lock:
            return dict(self._spares)

    def close(self) -> None:
        """Stop every spare (at exit, and whenever a caller wants nothing left running)."""
        with self._lock:
            spares, self._spares = list(self._spares.values()), {}
            owned = self._owner == os.getpid()
        if owned:
            for spare in spares:
                spare.finish()


SPARES = SparePool()
atexit.register(SPARES.close)


def _process_tree(root: int) -> list[int]:
    """`root`'s descendants, found through /proc (bwrap puts the program in a session of its
    own, so killing our process group alone would leave it to die a moment later)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _stat_field(int(entry), 1)
            if parent is not None:
                children.setdefault(int(parent), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _stat_field(pid: int, index: int) -> str | None:
    """A field of /proc/<pid>/stat after the command name (0: state, 1: parent), or None
    when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[index]
    except (OSError, IndexError):
        return None


def _kill(process: subprocess.Popen, backend: Backend, run_id: str) -> None:
    """Kill a run's whole process tree (and container) and wait until none of it runs."""
    tree = _process_tree(process.pid)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    backend.after_kill(run_id)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
        _stat_field(pid, 0) not in (None, "Z", "X") for pid in tree
    ):
        time.sleep(0.005)
