"""Sandboxes started ahead of need, so that a build does not wait for one to start.

Starting a sandbox costs more than most builds: a fresh interpreter and, under bubblewrap, its
namespaces; under docker a container (0.3-1.5 s on this project's machines). So each build
leaves one spare starting behind it, for the same backend and limits, and the next build takes
it; a caller's `last` build leaves none (`agent eval` builds twice: its program and its baseline).
A spare has run nothing of anyone's: it is the harness, isolated, blocked on stdin until its
one request arrives; its rlimits and confinement come with that request, as for a fresh
start. It serves one build and is gone.

Spares belong to the process that started them (a forked child starts its own). They are
stopped when the interpreter exits, and their stdin closing ends them should this process die
without running its exit handlers (a pool worker, a kill). A spare loads its dialect while it
waits, so a dialect edited meanwhile reaches the build after next.

A process that will build before it knows the dialect (a warm eval server's standby, which
waits for its request: agents.eval_server) starts spares for several (`start_ahead`), each of
which loads them all (as long as no request arrives meanwhile). A spare started under another temporary folder, PATH or docker settings than a
build's (the standby's are the server's, the build's its client's) is not used: the build's
sandbox starts as it would have without one.
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
    context: tuple = ()  # `_context()` when it started

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
    return Started(process, run_id, run_dir, backend, _context())


def _context() -> tuple:
    """What starting a sandbox reads from this process besides its arguments: the temporary
    folder (the run's folder), PATH (where bwrap is found) and the docker client's settings."""
    docker = sorted((k, v) for k, v in os.environ.items() if k.startswith("DOCKER_"))
    return tempfile.gettempdir(), os.environ.get("PATH"), tuple(docker)


class SparePool:
    """At most one spare per (backend, limits, dialect), taken by the next build that
    matches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spares: dict[tuple, Started] = {}
        self._owner = os.getpid()
        self._swept_by: int | None = None  # the process that removed earlier runs' leftovers

    def take(
        self, backend: Backend, limits: Limits, dialect: str, *, last: bool = False
    ) -> Started:
        """A started sandbox for one build; a new spare starts behind it unless the caller
        says this is its `last` build (one started for nothing costs a core ~0.1 s), or
        another waits for its next build already (started ahead)."""
        key = (backend.name, limits, dialect)

        def serves(waiting: tuple) -> bool:  # this dialect's, or one of several started ahead
            return waiting[:2] == key[:2] and dialect in waiting[2].split(",")

        with self._lock:
            self._own()
            spare = self._spares.pop(key, None)
            if spare is None:
                found = next(filter(serves, self._spares), None)
                spare = None if found is None else self._spares.pop(found)
            try:
                if not last and not any(map(serves, self._spares)):
                    self._spares[key] = start(backend, limits, dialect)
            except BaseException:  # the backend failed: leave nothing of ours running
                if spare is not None:
                    spare.finish()
                raise
        if spare is not None and spare.process.poll() is None and spare.context == _context():
            return spare
        if spare is not None:  # it died waiting (killed from outside), or started elsewhere
            spare.finish()
        return start(backend, limits, dialect)

    def start_ahead(
        self, backend: Backend, limits: Limits, dialects: tuple[str, ...], count: int = 1
    ) -> None:
        """Have `count` spares wait that the next builds of any of `dialects` take, for a
        process that builds next but does not know yet which dialect. They wait under
        (backend, limits, "dialect,dialect,...", number)."""
        joined = ",".join(dialects)
        with self._lock:
            self._own()
            for number in range(count):
                key = (backend.name, limits, joined, number)
                if key not in self._spares:
                    self._spares[key] = start(backend, limits, joined)

    def _own(self) -> None:
        """Forget a parent's spares in a forked child, and remove earlier runs' leftovers
        once per process before its first start (under the lock)."""
        if self._owner != os.getpid():  # forked: the parent's spares are not ours
            self._spares, self._owner = {}, os.getpid()
        if self._swept_by != os.getpid():
            self._swept_by = os.getpid()
            leftovers.sweep_folders()

    def waiting(self) -> dict[tuple, Started]:
        """The spares now waiting, by (backend, limits, dialect), or as `start_ahead` keys
        them."""
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
