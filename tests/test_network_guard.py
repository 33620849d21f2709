"""The network guard itself: a refused connection fails the test even if it was swallowed."""

from __future__ import annotations

import socket

import pytest

from tests import conftest


def test_outside_connection_is_refused_and_recorded():
    with socket.socket() as s, pytest.raises(conftest.NetworkBlocked):
        s.connect(("203.0.113.7", 443))
    assert conftest._attempts  # teardown would fail the test; clear it so this one passes
    conftest._attempts.clear()


def test_loopback_is_allowed():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket() as client:
            client.connect(server.getsockname())
