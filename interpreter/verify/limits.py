"""Time and memory budgets for trusted interpretation.

A program's IR decides how long the interpreter runs and how much it allocates, so both
need a budget that turns into a verdict (`timeout`, `invalid`) instead of a hung or killed
process. Time: on the main thread a SIGALRM interrupts the run; on any other thread (an
`agent eval` run from a thread, a chat tool) a timer thread raises the same exception in
the checking thread at its next bytecode (`PyThreadState_SetAsyncExc`), which interrupts
the interpreter's Python loops just as well. Memory: numpy raises `MemoryError` for an
allocation it cannot get; a verification worker also caps its address space so that a
runaway allocation fails there instead of waking the kernel's out-of-memory killer.
"""

from __future__ import annotations

import contextlib
import ctypes
import resource
import signal
import threading
import time
from collections.abc import Callable, Iterator

WORKER_ADDRESS_SPACE = 4 << 30  # bytes; generous: a worker with torch loaded maps ~0.7 GiB


class Deadline(Exception):
    """Raised inside a trusted run that went past its wall-clock budget."""


class Budget:
    """The clock of a `time_limit` block. `paused()` stops it for a part of the block that
    is not the run's to pay for: `agent eval` starts timing its baseline in the middle of
    a program's checks (`check_ir`'s `after_timed`), and no program may time out for the
    baseline's build. `stop` stops the clock and returns the seconds left, `resume` runs
    them on; without them (no limit) nothing is timed."""

    def __init__(
        self,
        stop: Callable[[], float] | None = None,
        resume: Callable[[float], None] | None = None,
    ) -> None:
        self._stop, self._resume = stop, resume
        self.paused_s = 0.0  # seconds spent paused, which a run's reported time leaves out

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        start = time.perf_counter()
        left = None if self._stop is None else self._stop()
        try:
            yield
        finally:
            if left is not None:
                self._resume(left)
            self.paused_s += time.perf_counter() - start


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[Budget]:
    """Raise `Deadline` in this thread once `seconds` have passed inside the block (the
    `Budget`'s pauses excepted)."""
    if seconds <= 0:
        yield Budget()
        return
    if threading.current_thread() is threading.main_thread():
        with _alarm(seconds) as budget:
            yield budget
    else:
        with _async_deadline(seconds) as budget:
            yield budget


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[Budget]:
    """SIGALRM after `seconds`; an alarm someone else had set (a test runner's timeout) is
    handed back, re-armed for the time it had left."""

    def _raise(signum, frame):  # noqa: ARG001
        raise Deadline()

    def stop() -> float:  # (an alarm that came already has raised)
        return signal.setitimer(signal.ITIMER_REAL, 0)[0]

    def resume(left: float) -> None:
        signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3))

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, _raise)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield Budget(stop, resume)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:
            left = outer - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3))


@contextlib.contextmanager
def _async_deadline(seconds: float) -> Iterator[Budget]:
    thread_id = ctypes.c_ulong(threading.get_ident())
    lock = threading.Lock()
    state = {"active": True, "fired": False, "timer": None, "ends": 0.0}

    def fire(timer_of: object) -> None:
        with lock:
            if state["active"] and state["timer"] is timer_of:  # (not a paused one)
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(thread_id, ctypes.py_object(Deadline))

    def arm(left: float) -> None:  # (under the lock, or before the timer runs)
        timer = threading.Timer(max(left, 1e-3), lambda: fire(timer))
        timer.daemon = True
        state["timer"], state["ends"] = timer, time.monotonic() + left
        timer.start()

    def stop() -> float:
        with lock:
            if state["fired"]:  # the exception is on its way: no time is left to keep
                return 0.0
            state["timer"].cancel()
            state["timer"] = None
            return state["ends"] - time.monotonic()

    def resume(left: float) -> None:
        with lock:
            if not state["fired"]:
                arm(left)

    arm(seconds)
    try:
        yield Budget(stop, resume)
    finally:
        with lock:
            state["active"] = False
            if state["timer"] is not None:
                state["timer"].cancel()
            if state["fired"]:
                # Fired as the block ended: clear it, or it would surface in the caller.
                ctypes.pythonapi.PyThreadState_SetAsyncExc(thread_id, None)


def cap_address_space(limit: int = WORKER_ADDRESS_SPACE) -> None:
    """Cap this process's virtual memory (for verification workers, which only check)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft == resource.RLIM_INFINITY or soft > limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
