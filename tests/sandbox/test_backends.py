"""Choosing a backend: explicit name, environment, config file, automatic."""

from __future__ import annotations

import pytest

import sandbox.backends as backends
from sandbox import SandboxConfigError, select_backend
from sandbox.backends import BACKENDS, ENV_VAR


@pytest.fixture(autouse=True)
def _no_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)


def test_explicit_name_wins_over_environment_and_config(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(ENV_VAR, "no-such-backend")
    (tmp_path / ".agent.toml").write_text('[sandbox]\nbackend = "also-wrong"\n')
    backend, why = select_backend("plain")
    assert backend.name == "plain" and "requested" in why and "isolates little" in why


def test_environment_wins_over_config(monkeypatch, tmp_path) -> None:
    (tmp_path / ".agent.toml").write_text('[sandbox]\nbackend = "bubblewrap"\n')
    monkeypatch.setenv(ENV_VAR, "plain")
    backend, why = select_backend()
    assert backend.name == "plain" and f"${ENV_VAR}" in why


def test_config_file_in_the_working_folder(tmp_path) -> None:
    (tmp_path / ".agent.toml").write_text('[sandbox]\nbackend = "plain"\n')
    backend, why = select_backend()
    assert backend.name == "plain" and ".agent.toml [sandbox] backend" in why


def test_unknown_name_is_one_clear_line(monkeypatch) -> None:
    monkeypatch.setenv(ENV_VAR, "jail")
    with pytest.raises(SandboxConfigError) as caught:
        select_backend()
    message = str(caught.value)
    assert "unknown sandbox backend 'jail'" in message and f"${ENV_VAR}" in message
    assert "bubblewrap, docker, plain" in message and "\n" not in message


def test_broken_config_file_is_reported(tmp_path) -> None:
    (tmp_path / ".agent.toml").write_text("[sandbox\n")
    with pytest.raises(SandboxConfigError, match="cannot read it"):
        select_backend()


def test_alias_and_auto() -> None:
    if BACKENDS["bubblewrap"].unavailable() is None:
        assert select_backend("bwrap")[0].name == "bubblewrap"
    auto, why = select_backend("auto")
    assert why.startswith(f"{auto.name}: ")
    expected = next(
        (name for name in ("bubblewrap", "docker") if BACKENDS[name].unavailable() is None), "plain"
    )
    assert auto.name == expected
    if expected == "plain":
        assert "isolates little" in why


def test_unavailable_backend_says_why(monkeypatch) -> None:
    monkeypatch.setattr(backends, "_probe_docker", lambda: "no docker daemon answers (gone)")
    with pytest.raises(SandboxConfigError) as caught:
        select_backend("docker")
    assert str(caught.value) == (
        "sandbox backend 'docker' (requested) cannot run: no docker daemon answers (gone)"
    )
