"""Model preflight: an unknown name or a missing key is reported before any request, in
one line naming what to set, and (for the common providers) without importing litellm."""

from __future__ import annotations

import pytest

from agents.models import ModelError
from agents.models.litellm_backend import LiteLLMModel, import_litellm
from agents.models.preflight import (
    KEY_VARIABLES,
    LOCAL_PROVIDERS,
    bundled_model_map,
    missing_credentials,
    preflight,
    provider_of,
)


@pytest.mark.parametrize("provider", sorted(KEY_VARIABLES))
def test_key_variables_are_the_ones_litellm_asks_for(provider, monkeypatch):
    for names in KEY_VARIABLES.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    checked = import_litellm().validate_environment(model=f"{provider}/some-model")
    assert not checked["keys_in_environment"]
    assert sorted(checked["missing_keys"]) == sorted(KEY_VARIABLES[provider])


@pytest.mark.parametrize(
    "name, provider",
    [
        ("openai/gpt-4o", "openai"),
        ("anthropic/claude-sonnet-4-5", "anthropic"),
        ("ollama/qwen2.5-coder", "ollama"),
        ("hosted_vllm/my-coder", "hosted_vllm"),
        ("gpt-4o", "openai"),  # a bare name from litellm's model map
    ],
)
def test_names_resolve_to_their_provider(name, provider):
    assert provider_of(name) == provider


def test_the_bundled_map_is_litellms_own():
    known = bundled_model_map()
    assert len(known) > 1000 and known["gpt-4o"]["litellm_provider"] == "openai"


@pytest.mark.parametrize("name", ["gpt-nonsense-9", "nonsense/model", "claude"])
def test_an_unknown_model_is_one_line_saying_how_to_name_one(name):
    with pytest.raises(ModelError) as info:
        preflight(name, environ={"OPENAI_API_KEY": "sk-x"})
    message = str(info.value)
    assert message.startswith(f"unknown model {name!r}") and "openai/gpt-4o" in message
    assert "\n" not in message


def test_a_missing_key_names_the_variable_to_set():
    with pytest.raises(ModelError) as info:
        preflight("anthropic/claude-sonnet-4-5", environ={"OPENAI_API_KEY": "sk-x"})
    assert str(info.value) == (
        "anthropic/claude-sonnet-4-5: set ANTHROPIC_API_KEY (the anthropic credentials) in"
        " the environment; no request was made"
    )
    with pytest.raises(ModelError, match="set GEMINI_API_KEY or GOOGLE_API_KEY"):
        preflight("gemini/gemini-2.0-flash", environ={"GOOGLE_API_KEY": " "})  # blank: unset


def test_a_key_that_is_set_passes_and_local_servers_need_none():
    preflight("gemini/gemini-2.0-flash", environ={"GOOGLE_API_KEY": "g-x"})
    preflight("openai/gpt-4o", environ={"OPENAI_API_KEY": "sk-x"})
    for provider in LOCAL_PROVIDERS:
        assert missing_credentials(f"{provider}/m", provider, environ={}) == []
    preflight("openai/gpt-4o", api_key="sk-given", environ={})  # an explicit key counts


def test_other_providers_ask_litellm(monkeypatch):
    monkeypatch.delenv("VOYAGE_API_KEY", raising=False)
    assert "voyage" not in KEY_VARIABLES
    assert missing_credentials("voyage/voyage-3", "voyage") == ["VOYAGE_API_KEY"]


def test_the_backend_runs_the_preflight(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelError, match="set OPENAI_API_KEY"):
        LiteLLMModel("openai/gpt-4o").preflight()
    LiteLLMModel("openai/gpt-4o", api_key="sk-test").preflight()
