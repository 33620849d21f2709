"""Spares: sandboxes started ahead of the next build (sandbox.spares)."""

from __future__ import annotations

import os
import signal

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


def test_a_spare_killed_while_waiting_is_replaced(backend_extra: str) -> None:
    assert build(backend_extra).ok
    spare = SPARES.waiting()[(backend_extra, TEST_LIMITS, "step")]
    os.killpg(spare.process.pid, signal.SIGKILL)
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
