"""Verification off the workflow's threads, in a small pool of worker processes.

Why processes: checking a program is CPU-bound Python (the interpreter and the cycle
simulator), so threads would queue on the GIL; and the verifier's wall-clock limit works
only in a process's main thread, which a pool worker's task runs in. The workflow's
parallel nodes (threads) each hand one program to the pool and wait for its verdict.

Workers load tasks from their files (a `Task` is not sent over the pipe) and keep them
cached. A worker whose parent died exits on its own, so a killed run leaves no process
behind. A worker caps its address space (`interpreter.verify.limits`), so that a program
that makes the checker allocate without bound gets a verdict instead of an out-of-memory
kill; a worker that dies anyway is a fault of the set-up, not of the program: the check is
retried once on a fresh worker, and a second death raises `WorkerDied`, which stops the run.

Timing: the pool holds one secret `timing_seed`, and every program and baseline it
verifies is timed on that seed's input, so cycles compare across all attempts of a run.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import secrets
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.task import Task

log = logging.getLogger(__name__)

TIMELINE_LIMIT = 2000  # timeline events kept per verdict (the report draws the best one)


@cache
def _task(path: str) -> Task:
    from benchmarks.task import parse_task

    return parse_task(Path(path))


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _init_worker(parent: int) -> None:
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    from interpreter.verify.limits import cap_address_space

    cap_address_space()
    import interpreter.verifier  # noqa: F401  (paid once per worker, not per program)


def verify_file(
    task_path: str, source: str, sandbox_backend: str | None, timing_seed: int
) -> dict[str, Any]:
    """Verify `source` on the task stored at `task_path`; the verdict as JSON."""
    from interpreter.verifier import verify

    verdict = verify(
        _task(task_path), source, sandbox_backend=sandbox_backend, timing_seed=timing_seed
    )
    return verdict.to_json(timeline_limit=TIMELINE_LIMIT)


def baseline_file(task_path: str, sandbox_backend: str | None, timing_seed: int) -> int | None:
    """Cycles of the task's baseline program (None when it has none or it fails)."""
    from interpreter.verifier import baseline_cycles

    return baseline_cycles(
        _task(task_path), timing_seed=timing_seed, sandbox_backend=sandbox_backend
    )


class WorkerDied(Exception):
    """A verification worker died twice on the same check (killed, out of memory): a fault
    of the machine or the checker, never a verdict on the program. The run stops on it."""


class VerifierPool:
    """`jobs` worker processes (0: verify in the calling thread, for debugging).

    `timing_seed`: the secret seed of the input every program and baseline is timed on. A
    solve run draws it once (`secrets.randbits(32)`), keeps it in its run folder and passes
    it again on resume, so that all its attempts compare; by default the pool draws one.
    It must never reach a model or a program."""

    def __init__(
        self, jobs: int, *, sandbox_backend: str | None = None, timing_seed: int | None = None
    ) -> None:
        if jobs < 0:
            raise ValueError(f"jobs must be >= 0, got {jobs}")
        self.jobs = jobs
        self.sandbox_backend = sandbox_backend
        self.timing_seed = secrets.randbits(32) if timing_seed is None else int(timing_seed)
        self._lock = threading.Lock()
        self._executor = self._start() if jobs else None

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: the run has threads (langgraph, rich) and forking a threaded
        # process can copy a held lock into the child.
        return ProcessPoolExecutor(
            max_workers=self.jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )

    def verify(self, task: Task, source: str) -> dict[str, Any]:
        return self._call(
            verify_file, str(task.path), source, self.sandbox_backend, self.timing_seed
        )

    def baseline_cycles(self, task: Task) -> int | None:
        return self._call(baseline_file, str(task.path), self.sandbox_backend, self.timing_seed)

    def _call(self, fn: Any, *args: Any) -> Any:
        if self._executor is None:
            return fn(*args)
        for attempt in (1, 2):
            executor = self._executor
            try:
                return executor.submit(fn, *args).result()
            except BrokenProcessPool:
                # One dying worker breaks the whole pool: start a new one (once, however
                # many threads saw it break), then retry this check there once.
                with self._lock:
                    if self._executor is executor:
                        executor.shutdown(wait=False, cancel_futures=True)
                        self._executor = self._start()
                log.warning("a verification worker died (attempt %d of 2)", attempt)
        raise WorkerDied(
            "a verification worker died twice on the same check (killed, or out of memory?):"
            " stopping; see the log"
        )

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None

    def __enter__(self) -> VerifierPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
