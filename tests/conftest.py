"""Test-wide guards.

No test may reach a network model: every outgoing connection to anything but loopback (or a
Unix socket) is refused, and the test that tried fails at teardown even when a library
(litellm maps it to a provider error) swallowed the refusal. A test that forgot to use the
scripted model can neither pass by accident nor leak a request.
"""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest
from hypothesis import HealthCheck, settings

# The default run gates landing, so property tests draw the same examples every time; run
# `pytest --hypothesis-profile=explore` to search with fresh randomness. Timing never
# decides a verdict: CI machines are shared, so no deadline and no "too slow" check.
_UNTIMED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("gate", derandomize=True, **_UNTIMED)
settings.register_profile("explore", derandomize=False, **_UNTIMED)
settings.load_profile("gate")

# An `agent eval` a test runs evaluates in-process: none leaves a warm eval server behind
# (tests/agents/test_eval_server.py starts and stops its own).
os.environ["AGENT_EVAL_SERVER"] = "0"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address: object) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX path
        return True
    host = str(address[0])
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NetworkBlocked(RuntimeError):
    """Raised when a test tries to leave the machine."""


_attempts: list[str] = []


def _refuse(address: object) -> None:
    _attempts.append(repr(address))
    raise NetworkBlocked(f"tests may not connect to {address!r}: use the scripted model")


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_local(address):
        _refuse(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_local(address):
        _refuse(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    # litellm looks these up at call time; make sure no real key is ever usable in tests.
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "AGENT_MODEL"):
        monkeypatch.delenv(key, raising=False)
    _attempts.clear()
    yield
    if _attempts:
        tried = ", ".join(_attempts)
        _attempts.clear()
        pytest.fail(f"the test tried to reach the network ({tried}); use the scripted model")
