"""Shared pieces of the sandbox tests: the three backends, a valid STeP program, and checks
that a run left the host as it found it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

import sandbox.spares
from sandbox import Limits, build_ir
from sandbox.backends import BACKENDS, new_run_id
from sandbox.container import client

SIGNATURE = {
    "dialect": "step",
    "inputs": [{"name": "x", "dtype": "float32", "shape": ["M", 64]}],
    "outputs": [{"name": "y", "dtype": "float32", "shape": ["M", 64]}],
    "dims": {"M": None},
    "params": {},
}
VALID = """\
from dsl import step


def kernel(x):
    tiles = step.linear_offchip_load(x, (64, 64))
    return step.linear_offchip_store(step.map(tiles, "exp"), "y")
"""
# Reaches the real `__import__` without naming anything the static check refuses: what a
# determined program does, so that the isolation behind the courtesy check is what is tested.
BYPASS = """\
def _probe():
    pass


_builtins = getattr(_probe, "__glob" + "als__")["__buil" + "tins__"]
_builtins = _builtins if isinstance(_builtins, dict) else getattr(_builtins, "__di" + "ct__")
_load = _builtins["__imp" + "ort__"]
"""
TEST_LIMITS = Limits(wall_seconds=15, cpu_seconds=5, memory_bytes=512 * 2**20)


_RUN_IDS: list[str] = []  # the runs started by the current test


def gone(pid: int) -> bool:
    """Whether process `pid` is no more: killed and reaped (a zombie is not gone yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _available(name: str) -> str:
    reason = BACKENDS[name].unavailable()
    if reason:
        pytest.skip(f"{name} backend unavailable: {reason}")
    return name


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn; skipped only when this machine cannot run it (with why)."""
    return _available(request.param)


@pytest.fixture(
    params=[pytest.param(n, marks=pytest.mark.slow) if n == "docker" else n for n in BACKENDS]
)
def backend_extra(request: pytest.FixtureRequest) -> str:
    """Like `backend`, for cases beyond the core list: a container start costs 0.4-1.5 s, so
    their docker runs are in the slow set (`-m slow`)."""
    return _available(request.param)


@pytest.fixture(autouse=True)
def _record_run_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    _RUN_IDS.clear()

    def recorded() -> str:
        _RUN_IDS.append(new_run_id())
        return _RUN_IDS[-1]

    monkeypatch.setattr(sandbox.spares, "new_run_id", recorded)


def leftovers() -> list[str]:
    """Processes anywhere on this host, containers and temporary folders of the current test's
    runs other than the spare waiting for the next build (every sandboxed process carries its
    run id on its command line; containers and folders are named after it)."""
    waiting = {spare.run_id for spare in sandbox.spares.SPARES.waiting().values()}
    run_ids = [run_id for run_id in _RUN_IDS if run_id not in waiting]
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as file:
                    cmdline = file.read().decode(errors="replace")
            except OSError:
                continue
            if any(run_id in cmdline for run_id in run_ids):
                found.append(f"process {entry}: {cmdline.replace(chr(0), ' ')[:120]}")
    if BACKENDS["docker"].unavailable() is None:  # stopped ones too: each run removes its own
        listed = client().api.containers(all=True, filters={"name": "agent-sandbox-"})
        names = {name.lstrip("/") for found in listed for name in found.get("Names") or []}
        found += [f"container {name}" for name in sorted(names) if name in run_ids]
    for folder in Path(tempfile.gettempdir()).glob("agent-sandbox-*"):
        if any(folder.name.startswith(f"{run_id}-") for run_id in run_ids):
            found.append(f"folder {folder}")
    return found


def assert_sound(result, backend: str, *, statuses: tuple[str, ...], secrets=()) -> None:
    """The run ended as one of `statuses` with a one-line reason, leaked none of `secrets`,
    left nothing running, and the next evaluation on the same backend still works."""
    assert result.status in statuses, result
    assert result.backend == backend
    assert "\n" not in result.message and (result.message or result.status == "ok"), result
    assert result.ir is None or result.status == "ok"
    everything = f"{result.message}\n{result.stderr}\n{result.ir}"
    for secret in secrets:
        assert secret not in everything, f"{secret!r} escaped the sandbox: {result}"
    assert _RUN_IDS and not leftovers(), f"outlived their run: {leftovers()}"
    follow_up = build_ir(
        VALID, dialect="step", signature=SIGNATURE, backend=backend, limits=TEST_LIMITS
    )
    assert follow_up.status == "ok", follow_up
