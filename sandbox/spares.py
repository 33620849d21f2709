"""Sandboxes started ahead of need, so that a build does not wait for one to start.

Starting a sandbox costs more than most builds: a fresh interpreter and, under bubblewrap, its
namespaces; under docker a container (0.3-1.5 s on this project's machines). So each build
leaves one spare starting behind it, for the same backend and limits, and the next build takes
it; a caller's `last` build leaves none (`agent eval` builds twice: program, then baseline).
A spare has run nothing of anyone's: it is the harness, isolated, blocked on stdin until its
one request arrives; its rlimits and confinement come with that request, as for a fresh
start. It serves one build and is gone.

Spares belong to the process that started them (a forked child starts its own). They are
stopped when the interpreter exits, and their stdin closing ends them should this process die
without running its exit handlers (a pool worker, a kill). A spare loads its dialect while it
waits, so a dialect edited meanwhile reaches the build after next.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

from sandbox import leftovers
from sandbox.backends import Backend, kill_stragglers, new_run_id
from sandbox.limits import Limits


@dataclass
class Started:
    """One started sandbox: its process (or container, see `Backend.start`), run id and
    private folder."""

    process: subprocess.Popen | Any
    run_id: str
    run_dir: tempfile.TemporaryDirectory
    backend: Backend

    def finish(self) -> int:
        """Kill whatever still runs, wait for the process, close the pipes and remove the
        folder; returns the exit code."""
        if self.process.poll() is None:
            self.backend.kill(self.process)
        returncode = self.process.wait()
        kill_stragglers(self.run_id)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            pipe.close()
        self.run_dir.cleanup()
        return returncode


def start(backend: Backend, limits: Limits, dialect: str) -> Started:
    run_id = new_run_id()
    # Named after the run, so that the next run finds it should this process be killed.
    run_dir = tempfile.TemporaryDirectory(prefix=f"{run_id}-")
    try:
        process = backend.start(limits, run_id, dialect, run_dir.name)
    except BaseException:
        run_dir.cleanup()
        raise
    return Started(process, run_id, run_dir, backend)


class SparePool:
    """At most one spare per (backend, limits, dialect), taken by the next build that
    matches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spares: dict[tuple[str, Limits, str], Started] = {}
        self._owner = os.getpid()
        self._swept_by: int | None = None  # the process that removed earlier runs' leftovers

    def take(
        self, backend: Backend, limits: Limits, dialect: str, *, last: bool = False
    ) -> Started:
        """A started sandbox for one build; a new spare starts behind it unless the caller
        says this is its `last` build (one started for nothing costs a core ~0.1 s)."""
        key = (backend.name, limits, dialect)
        with self._lock:
            if self._owner != os.getpid():  # forked: the parent's spares are not ours
                self._spares, self._owner = {}, os.getpid()
            if self._swept_by != os.getpid():  # once per process, before its first start
                self._swept_by = os.getpid()
                leftovers.sweep_folders()
            spare = self._spares.pop(key, None)
            try:
                if not last:
                    self._spares[key] = start(backend, limits, dialect)
            except BaseException:  # the backend failed: leave nothing of ours running
                if spare is not None:
                    spare.finish()
                raise
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
