"""A function run in a forked child, its answer pickled back on a pipe.

The verifier uses it where a second core would otherwise idle: a warm eval server's request
times the task's baseline (`interpreter.verifier.BackgroundBaseline`) and simulates the timed
input (`interpreter.verify.trusted`) while it checks the program. A child shares what the
process has loaded and computed, at the cost of one fork; the caller waits for its answer
with a timeout and kills it on any early return, so no child outlives the wait.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from typing import Any


class Forked:
    """`function()` running in a forked child; `result` is what it returned, or raises what
    it raised. The child never returns into the caller's code."""

    def __init__(self, function: Callable[[], Any]) -> None:
        readable, writable = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(readable)
                try:
                    answer = pickle.dumps((True, function()))
                except Exception as exc:
                    answer = pickle.dumps((False, _picklable(exc)))
                with os.fdopen(writable, "wb") as out:
                    out.write(answer)
                code = 0
            finally:
                os._exit(code)
        os.close(writable)
        self.pid: int | None = pid  # None once reaped
        self._answer = readable

    def result(self, timeout_s: float) -> Any:
        """The child's return value, waiting up to `timeout_s` s; re-raises its exception.
        Raises TimeoutError when it takes longer (it is killed) and ChildProcessError when
        it died without answering."""
        deadline = time.monotonic() + timeout_s
        chunks: list[bytes] = []
        try:
            while True:
                left = deadline - time.monotonic()
                ready, _, _ = select.select([self._answer], [], [], max(left, 0))
                if not ready:
                    raise TimeoutError(f"no answer within {timeout_s:g} s")
                chunk = os.read(self._answer, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            status = self.cancel()
        if not chunks:
            raise ChildProcessError(f"the child died without answering (wait status {status})")
        ok, value = pickle.loads(b"".join(chunks))
        if not ok:
            raise value
        return value

    def cancel(self) -> int | None:
        """Kill the child if it still runs and reap it; its wait status (None if reaped)."""
        if self.pid is None:
            return None
        os.kill(self.pid, signal.SIGKILL)  # a child that has exited is a zombie until reaped
        _, status = os.waitpid(self.pid, 0)
        os.close(self._answer)
        self.pid = None
        return status


def _picklable(exc: Exception) -> Exception:
    """`exc`, or a RuntimeError naming it when it does not survive pickling (an exception
    whose constructor takes other arguments than its message)."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
