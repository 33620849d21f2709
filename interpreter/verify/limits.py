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
from collections.abc import Iterator

WORKER_ADDRESS_SPACE = 4 << 30  # bytes; generous: a worker with torch loaded maps ~0.7 GiB


class Deadline(Exception):
    """Raised inside a trusted run that went past its wall-clock budget."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise `Deadline` in this thread once `seconds` have passed inside the block."""
    if seconds <= 0:
        yield
        return
    if threading.current_thread() is threading.main_thread():
        with _alarm(seconds):
            yield
    else:
        with _async_deadline(seconds):
            yield


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """SIGALRM after `seconds`; an alarm someone else had set (a test runner's timeout) is
    handed back, re-armed for the time it had left."""

    def _raise(signum, frame):  # noqa: ARG001
        raise Deadline()

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, _raise)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:
            left = outer - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3))


@contextlib.contextmanager
def _async_deadline(seconds: float) -> Iterator[None]:
    thread_id = ctypes.c_ulong(threading.get_ident())
    lock = threading.Lock()
    state = {"active": True, "fired": False}

    def fire() -> None:
        with lock:
            if state["active"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(thread_id, ctypes.py_object(Deadline))

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            state["active"] = False
            timer.cancel()
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
