"""Spares: sandboxes started ahead of the next build (sandbox.spares)."""

from __future__ import annotations

import os
import signal
import time

from sandbox import build_ir
from sandbox.backends import BACKENDS
from sandbox.spares import SPARES, start
from tests.sandbox.conftest import SIGNATURE, TEST_LIMITS, VALID, leftovers


def build(backend: str):
    return build_ir(VALID, dialect="step", signature=SIGNATURE, backend=backend, limits=TEST_LIMITS)


def test_the_next_build_takes_the_waiting_spare(backend_extra: str) -> None:
    key = (backend_extra, TEST_LIMITS, "step")
    assert build(backend_extra).ok
    spare = SPARES.waiting()[key]
    assert spare.process.poll() is None
    assert build(backend_extra).ok
    assert spare.process.poll() is not None, "the spare was not used"
    assert SPARES.waiting()[key] is not spare
    assert not leftovers()


def test_a_last_build_takes_the_spare_and_leaves_none(backend: str) -> None:
    key = (backend, TEST_LIMITS, "step")
    assert build(backend).ok
    spare = SPARES.waiting()[key]
    last = build_ir(
        VALID, dialect="step", signature=SIGNATURE, backend=backend, limits=TEST_LIMITS, last=True
    )
    assert last.ok
    assert spare.process.poll() is not None, "the spare was not used"
    assert key not in SPARES.waiting()
    assert not leftovers()


def _kill_harness(run_id: str) -> None:
    """SIGKILL the spare's harness process, seen from the host whatever isolates it (under
    docker it runs in a container, once the container has started)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as file:
                    argv = file.read().split(b"\0")
            except OSError:
                continue
            if run_id.encode() in argv and b"-c" in argv:
                os.kill(int(entry), signal.SIGKILL)
                return
        time.sleep(0.05)
    raise AssertionError(f"no harness process of {run_id} appeared")


def test_a_spare_killed_while_waiting_is_replaced(backend_extra: str) -> None:
    assert build(backend_extra).ok
    spare = SPARES.waiting()[(backend_extra, TEST_LIMITS, "step")]
    _kill_harness(spare.run_id)
    spare.process.wait()
    result = build(backend_extra)
    assert result.ok, result
    assert not leftovers()


def test_closing_leaves_nothing_running(backend: str) -> None:
    assert build(backend).ok
    SPARES.close()
    assert not SPARES.waiting()
    assert not leftovers()


def test_an_unused_spare_ends_quietly_when_its_stdin_closes() -> None:
    spare = start(BACKENDS["plain"], TEST_LIMITS, "step")
    spare.process.stdin.close()
    assert spare.process.wait(timeout=30) == 0
    assert spare.process.stderr.read() == b"" and spare.process.stdout.read() == b""
    spare.finish()
