"""Shared pieces of the sandbox tests: the three backends, a valid STeP program, and checks
that a run left the host as it found it."""

from __future__ import annotations

import os
import subprocess

import pytest

from sandbox import Limits, build_ir
from sandbox.backends import BACKENDS

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
FAST = Limits(wall_seconds=15, cpu_seconds=5, memory_bytes=512 * 2**20)


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn; skipped only when this machine cannot run it (with why)."""
    reason = BACKENDS[request.param].unavailable()
    if reason:
        pytest.skip(f"{request.param} backend unavailable: {reason}")
    return request.param


def child_pids() -> set[int]:
    """Live processes whose parent is this test process."""
    mine, found = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == mine and fields[0] != "Z":
                found.add(int(entry))
    return found


def sandbox_containers() -> set[str]:
    done = subprocess.run(
        ["docker", "ps", "--all", "--filter", "name=agent-sandbox-", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return set(done.stdout.split())


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
    assert not child_pids(), "a sandbox process outlived its run"
    follow_up = build_ir(VALID, dialect="step", signature=SIGNATURE, backend=backend, limits=FAST)
    assert follow_up.status == "ok", follow_up
