"""Probes never take a command down: a backend that cannot be probed is unavailable, with the
reason, and the automatic choice moves on to the next one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import sandbox.backends as backends
import sandbox.container as container
from sandbox import SandboxConfigError, build_ir, select_backend
from sandbox.backends import BACKENDS, ENV_VAR
from sandbox.spares import SPARES
from tests.sandbox.conftest import SIGNATURE, TEST_LIMITS, VALID

VENV_BIN = os.path.dirname(sys.executable)
PROJECT = Path(__file__).resolve().parents[2]


_CACHED = (backends._bwrap_starts, backends._probe_docker, container._client_of)


def _forget_probes() -> None:
    for cached in _CACHED:
        cached.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_probes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Probe afresh under each test's conditions, and again under the real ones after it."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    _forget_probes()
    yield
    _forget_probes()


@pytest.fixture
def dead_socket(tmp_path: Path) -> str:
    """A unix socket file that nothing listens on (a daemon that died)."""
    path = tmp_path / "docker.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.close()
    return f"unix://{path}"


def _no_bubblewrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "_probe_bubblewrap", lambda: "bwrap is not installed")


def test_a_dead_daemon_is_a_reason_and_plain_takes_over(monkeypatch, dead_socket) -> None:
    monkeypatch.setenv("DOCKER_HOST", dead_socket)
    _no_bubblewrap(monkeypatch)
    reason = BACKENDS["docker"].unavailable()
    assert reason is not None and reason.startswith("no docker daemon answers (")
    assert "\n" not in reason
    chosen, why = select_backend()
    assert chosen.name == "plain" and f"docker: {reason}" in why
    built = build_ir(VALID, dialect="step", signature=SIGNATURE, limits=TEST_LIMITS)
    assert built.status == "ok" and built.backend == "plain"


def test_the_sdk_raising_is_a_reason(monkeypatch) -> None:
    docker = pytest.importorskip("docker")

    def broken(**_: object) -> None:
        raise RuntimeError("the SDK fell over")

    monkeypatch.setattr(docker, "from_env", broken)
    reason = BACKENDS["docker"].unavailable()
    assert reason == "no docker daemon answers (RuntimeError: the SDK fell over)"
    _no_bubblewrap(monkeypatch)
    assert select_backend()[0].name == "plain"


def test_any_probe_failure_is_a_reason_not_an_exception(monkeypatch) -> None:
    def surprise() -> str:
        raise KeyError("where")

    monkeypatch.setattr(backends, "_probe_docker", surprise)
    monkeypatch.setattr(backends, "_probe_bubblewrap", surprise)
    for name in ("docker", "bubblewrap"):
        assert BACKENDS[name].unavailable() == "the probe failed (KeyError: 'where')"
    assert select_backend()[0].name == "plain"


def test_probing_ahead_keeps_a_working_bwrap_only(monkeypatch, tmp_path) -> None:
    """A warm eval server probes before it forks (backends.probe_ahead): its children reuse
    a success, probe a failure again, and a caller without bwrap on its PATH has none."""
    if shutil.which("bwrap") is None:
        pytest.skip("bwrap is not installed")
    failing = subprocess.CompletedProcess([], 1, "", "no user namespaces")
    with monkeypatch.context() as patch:
        patch.setattr(backends.subprocess, "run", lambda *_, **__: failing)
        backends.probe_ahead()
    assert backends._bwrap_starts.cache_info().currsize == 0
    backends.probe_ahead()
    if backends._bwrap_starts.cache_info().currsize == 0:
        pytest.skip(f"bwrap cannot run here: {BACKENDS['bubblewrap'].unavailable()}")
    assert BACKENDS["bubblewrap"].unavailable() is None
    monkeypatch.setenv("PATH", str(tmp_path))
    assert BACKENDS["bubblewrap"].unavailable() == "bwrap is not installed"


def test_a_missing_sdk_is_a_reason(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "docker", None)  # import docker raises ImportError
    assert "Docker SDK for Python" in BACKENDS["docker"].unavailable()


def test_docker_needs_no_client_on_the_path(monkeypatch) -> None:
    """The host that broke every command: the client in /usr/local/bin, sandboxes started
    with PATH=/usr/bin:/bin. The SDK needs no client at all."""
    monkeypatch.setenv("PATH", "/nonexistent")
    reason = BACKENDS["docker"].unavailable()
    if reason is not None and "daemon" in reason:
        pytest.skip(f"no docker daemon here: {reason}")
    assert reason is None
    SPARES.close()
    built = build_ir(
        VALID, dialect="step", signature=SIGNATURE, backend="docker", limits=TEST_LIMITS
    )
    assert built.status == "ok", built


def test_a_container_the_daemon_refuses_is_a_set_up_fault(monkeypatch) -> None:
    """Not the program's fault, so not a verdict: one line, raised like a bad setting."""
    if BACKENDS["docker"].unavailable() is not None:
        pytest.skip(f"docker unavailable: {BACKENDS['docker'].unavailable()}")
    SPARES.close()  # a spare of the real image would answer
    monkeypatch.setattr(container, "IMAGE", "agent-sandbox:no-such-layout")
    try:
        with pytest.raises(SandboxConfigError) as caught:
            build_ir(
                VALID, dialect="step", signature=SIGNATURE, backend="docker", limits=TEST_LIMITS
            )
    finally:
        SPARES.close()  # nor may a spare of the missing one outlive the test
    message = str(caught.value)
    assert "\n" not in message and message.startswith("sandbox backend 'docker' failed: ")
    assert "ImageNotFound" in message and "no-such-layout" in message


def _agent(*args: str, **env: str) -> subprocess.CompletedProcess:
    """The `agent` command with only the venv on PATH (no docker client, no bwrap)."""
    environment = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, "DOCKER_HOST")}
    environment.update(PATH=VENV_BIN, **env)
    return subprocess.run(
        [os.path.join(VENV_BIN, "agent"), *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=PROJECT,
        timeout=240,
        check=False,
    )


@pytest.mark.slow
def test_doctor_shows_each_reason_with_a_dead_daemon(dead_socket) -> None:
    done = _agent("doctor", DOCKER_HOST=dead_socket, COLUMNS="300")
    assert done.returncode == 0, done.stderr
    assert "bubblewrap: unavailable (bwrap is not installed)" in done.stdout
    assert "docker: unavailable (no docker daemon answers (" in done.stdout
    assert "sandbox: plain" in done.stdout


@pytest.mark.slow
def test_eval_works_without_a_docker_client_on_the_path(dead_socket) -> None:
    program = PROJECT / "benchmarks" / "step" / "baselines" / "softmax.py"
    for env in ({}, {"DOCKER_HOST": dead_socket}):  # docker through the SDK; then plain
        done = _agent("eval", "step/softmax", str(program), "--json", **env)
        assert done.returncode == 0, (env, done.stderr)
        assert '"status": "passed"' in done.stdout, done.stdout


def test_a_daemon_gone_after_the_probe_is_a_set_up_fault(monkeypatch, dead_socket) -> None:
    if BACKENDS["docker"].unavailable() is not None:
        pytest.skip(f"docker unavailable: {BACKENDS['docker'].unavailable()}")
    SPARES.close()
    monkeypatch.setenv("DOCKER_HOST", dead_socket)  # the probe's answer stays cached
    container._client_of.cache_clear()
    with pytest.raises(SandboxConfigError, match="^sandbox backend 'docker' failed: "):
        build_ir(VALID, dialect="step", signature=SIGNATURE, backend="docker", limits=TEST_LIMITS)
