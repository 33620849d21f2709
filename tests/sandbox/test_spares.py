"""Spares: sandboxes started ahead of the next build (sandbox.spares)."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

import pytest

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


def test_spares_started_ahead_serve_the_builds_of_any_of_their_dialects(backend: str) -> None:
    """`start_ahead` (a warm eval server's standby, before its request says the dialect):
    spares for several dialects, taken by builds of any of them, not of another; while one
    waits for a build's next build, no spare starts behind the build."""
    SPARES.close()  # the earlier tests' spares
    chosen = BACKENDS[backend]
    SPARES.start_ahead(chosen, TEST_LIMITS, ("sam", "dae"))
    other = SPARES.waiting()[(backend, TEST_LIMITS, "sam,dae", 0)]
    last = build_ir(
        VALID, dialect="step", signature=SIGNATURE, backend=backend, limits=TEST_LIMITS, last=True
    )
    assert last.ok  # step: not among them
    assert other.process.poll() is None, "a spare for other dialects was used"
    SPARES.start_ahead(chosen, TEST_LIMITS, ("sam", "step"), count=2)
    first, second = (SPARES.waiting()[(backend, TEST_LIMITS, "sam,step", n)] for n in (0, 1))
    assert build(backend).ok
    assert first.process.poll() is not None, "the first spare started ahead was not used"
    assert set(SPARES.waiting()) == {
        (backend, TEST_LIMITS, "sam,dae", 0),
        (backend, TEST_LIMITS, "sam,step", 1),
    }, "a spare started behind the build while the second waited"
    assert build(backend).ok
    assert second.process.poll() is not None, "the second spare started ahead was not used"
    assert (backend, TEST_LIMITS, "step") in SPARES.waiting()  # behind the build, as before
    assert SPARES.waiting()[(backend, TEST_LIMITS, "sam,dae", 0)] is other
    assert not leftovers()


@pytest.mark.parametrize("variable", ["TMPDIR", "PATH"])
def test_a_spare_started_under_another_environment_is_not_used(
    backend: str, variable: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The standby's spare starts under the server's environment, its build runs under the
    client's: where they differ in what a start reads (its folder's place, where bwrap is
    found), the build starts its sandbox as it would have without a spare, which stops."""
    SPARES.close()  # the earlier tests' spares
    SPARES.start_ahead(BACKENDS[backend], TEST_LIMITS, ("step",))
    ahead = SPARES.waiting()[(backend, TEST_LIMITS, "step", 0)]
    value = str(tmp_path) if variable == "TMPDIR" else f"{tmp_path}:{os.environ['PATH']}"
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr(tempfile, "tempdir", None)  # found again, as in a request's child
    result = build_ir(
        VALID, dialect="step", signature=SIGNATURE, backend=backend, limits=TEST_LIMITS, last=True
    )
    assert result.ok, result
    assert ahead.process.poll() is not None, "the spare was left running"
    assert not Path(ahead.run_dir.name).exists()
    assert not leftovers()
