"""What a run killed with SIGKILL leaves behind is removed by the next run, and nothing of a
live run ever is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from sandbox import leftovers
from sandbox.backends import BACKENDS
from sandbox.leftovers import RUN_PREFIX, orphaned, owner_tag

PROJECT = Path(__file__).resolve().parents[2]
# One build, then wait with its spare (and the spare's folder) in place until killed.
RUN = f"""
import sys, time
sys.path.insert(0, {str(PROJECT)!r})
from sandbox import build_ir
from tests.sandbox.conftest import SIGNATURE, TEST_LIMITS, VALID
built = build_ir(VALID, dialect="step", signature=SIGNATURE, backend=sys.argv[1],
                 limits=TEST_LIMITS)
print(built.status, flush=True)
time.sleep(600)
"""


def test_names_tell_a_dead_owner_from_a_live_one() -> None:
    assert not orphaned(f"{RUN_PREFIX}{owner_tag()}-abc")  # this process
    assert not orphaned(f"{RUN_PREFIX}{owner_tag(1)}-abc")  # init, alive
    pid, started = owner_tag().split(".")
    assert orphaned(f"{RUN_PREFIX}{pid}.{int(started) + 1}-abc")  # same pid, another process
    assert orphaned(f"{RUN_PREFIX}{2**22 + 1}.5-abc")  # above any pid_max: never alive
    assert not orphaned(f"{RUN_PREFIX}0123456789ab")  # older, untagged names: left alone
    assert not orphaned("agent-sandbox-x.y-abc") and not orphaned("something-else")


def test_sweep_removes_only_dead_owners_folders(tmp_path: Path) -> None:
    dead = tmp_path / f"{RUN_PREFIX}{2**22 + 1}.5-abc-tmp1"
    live = tmp_path / f"{RUN_PREFIX}{owner_tag()}-def-tmp2"
    untagged = tmp_path / f"{RUN_PREFIX}0123456789ab"
    for folder in (dead, live, untagged):
        (folder / "inside").mkdir(parents=True)
    (tmp_path / f"{RUN_PREFIX}{2**22 + 1}.5-file").write_text("not a folder")
    assert leftovers.sweep_folders(str(tmp_path)) == [dead]
    assert not dead.exists() and live.exists() and untagged.exists()


def _start(backend: str) -> subprocess.Popen:
    run = subprocess.Popen(
        [sys.executable, "-c", RUN, backend], stdout=subprocess.PIPE, text=True, cwd=PROJECT
    )
    assert run.stdout.readline().strip() == "ok"
    return run


def _folders_of(pid: int) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"{RUN_PREFIX}{pid}.*"))


def _kill(run: subprocess.Popen) -> None:
    os.kill(run.pid, signal.SIGKILL)
    run.wait()


def test_the_next_run_removes_a_killed_runs_folders_and_spares_a_live_ones() -> None:
    killed, alive = _start("plain"), _start("plain")
    try:
        _kill(killed)
        assert _folders_of(killed.pid), "the killed run left nothing: the test shows nothing"
        _kill(_start("plain"))  # the next run
        assert not _folders_of(killed.pid)
        assert _folders_of(alive.pid), "a live run's folder was removed"
    finally:
        _kill(alive)
    leftovers.sweep_folders()


@pytest.mark.slow
def test_the_next_run_removes_a_killed_runs_containers() -> None:
    if BACKENDS["docker"].unavailable() is not None:
        pytest.skip(f"docker unavailable: {BACKENDS['docker'].unavailable()}")
    from sandbox.container import client, sweep

    def containers_of(pid: int) -> list[str]:
        listed = client().api.containers(all=True, filters={"name": f"{RUN_PREFIX}{pid}."})
        return [found["Id"] for found in listed]

    killed = _start("docker")
    _kill(killed)
    assert containers_of(killed.pid), "the killed run left no container: the test shows nothing"
    _kill(_start("docker"))
    deadline = time.monotonic() + 30
    while containers_of(killed.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not containers_of(killed.pid)
    sweep()  # the second run's, killed too
    leftovers.sweep_folders()
