"""`submit_build`: a build sent to its sandbox without waiting (`agent eval` in a warm server
sends its baseline's before the program's build, so that it traces on the other core). The
result is `build_ir`'s; the deadline counts from the submission; `cancel` leaves nothing
running, and neither does the submitting process dying."""

from __future__ import annotations

import os
import signal
import time

from sandbox import Limits, build_ir, submit_build
from tests.sandbox.conftest import SIGNATURE, TEST_LIMITS, VALID, gone

SLOW = "sum(range(60_000_000))\n" + VALID  # 0.5-1.5 s of CPU before it traces


def _submit(source: str, limits: Limits = TEST_LIMITS):
    return submit_build(source, dialect="step", signature=SIGNATURE, limits=limits)


def test_a_submitted_build_returns_at_once_and_gives_build_irs_result() -> None:
    started = time.monotonic()
    build = _submit(SLOW)
    submitted = time.monotonic() - started
    result = build.result()
    expected = build_ir(SLOW, dialect="step", signature=SIGNATURE, limits=TEST_LIMITS)
    assert result.status == expected.status == "ok" and result.ir == expected.ir
    assert submitted < 0.2 < 0.4 < result.seconds  # it did not wait; counted from then


def test_the_deadline_counts_from_the_submission() -> None:
    """Collected late, a build past its wall time is a timeout at once, not after another
    full wall time."""
    build = _submit(SLOW, Limits(wall_seconds=0.5, cpu_seconds=5, memory_bytes=512 * 2**20))
    time.sleep(0.7)
    started = time.monotonic()
    result = build.result()
    assert result.status == "timeout" and time.monotonic() - started < 0.3


def test_early_refusals_start_no_sandbox() -> None:
    build = submit_build(VALID, dialect="No-Such", signature=SIGNATURE, limits=TEST_LIMITS)
    assert build.sandbox is None and build.result().status == "error"
    build.cancel()  # harmless


def test_cancel_kills_the_sandbox_and_removes_its_folder() -> None:
    build = _submit(SLOW)
    pid, folder = build.sandbox.process.pid, build.sandbox.run_dir.name
    build.cancel()
    assert gone(pid) and not os.path.exists(folder)
    build.cancel()  # a second stop is harmless


def test_a_sandbox_outlives_no_submitter_that_dies() -> None:
    """A request's child killed (its client went away) with a build in flight: the
    sandbox's request is written, and its answer finds no reader, so it ends."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the submitter
        try:
            os.close(read)
            build = _submit(SLOW)
            os.write(write, str(build.sandbox.process.pid).encode())
            time.sleep(60)
        finally:
            os._exit(1)
    os.close(write)
    sandbox = int(os.read(read, 64))
    os.close(read)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    deadline = time.monotonic() + 10
    while not gone(sandbox) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(sandbox)
