"""Is a litellm model usable at all? Checked before a run's first task, not after its 60th
failed request.

Two questions: does the name resolve to a provider (a `provider/` prefix litellm knows, or
a bare name in litellm's model map), and are that provider's credentials set? Both are
answered without importing litellm for the common providers, because importing it takes
seconds and a missing key must be reported in well under two: the model map is litellm's
own bundled JSON file (read, not imported), and `KEY_VARIABLES` holds the variable names
litellm's `validate_environment` gives for the common providers (a test pins them against
it). A bare name that no entry and no routing rule of that file can place is refused from
the file alone too (`surely_unknown`, pinned against litellm's own lists by a test); any
other case falls back to asking litellm itself.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agents.models.base import ModelError

# provider -> the environment variables litellm reads its key from (any one suffices)
KEY_VARIABLES: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "mistral": ("MISTRAL_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "together_ai": ("TOGETHERAI_API_KEY",),
    "fireworks_ai": ("FIREWORKS_AI_API_KEY",),
    "cohere": ("COHERE_API_KEY",),
    "deepinfra": ("DEEPINFRA_API_KEY",),
    "cerebras": ("CEREBRAS_API_KEY",),
}
# Local servers: no key, and litellm has a default address (or the user passes one).
LOCAL_PROVIDERS = frozenset({"ollama", "ollama_chat", "hosted_vllm", "lm_studio", "llamafile"})
MAP_FILE = "model_prices_and_context_window_backup.json"


@functools.cache
def bundled_model_map() -> dict[str, Any]:
    """litellm's bundled model map (name -> info with `litellm_provider`), or {} if absent."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return {}
    path = Path(spec.origin).parent / MAP_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


@functools.cache
def _bare_names() -> frozenset[str]:
    """Every name of the map, with and without its `provider/` prefix (litellm's own
    per-provider lists hold the bare forms)."""
    names = set(bundled_model_map())
    return frozenset(names | {n.split("/", 1)[1] for n in names if "/" in n})


@functools.cache
def _routing_rules() -> tuple[re.Pattern[str], ...]:
    """The map's routing rules: regexes litellm uses to place a new model's bare name."""
    try:
        rules = bundled_model_map()["fallback_generalizations"]["rules"]
        return tuple(
            re.compile(rule["pattern"], re.IGNORECASE)
            for rule in rules
            if list(rule.get("model_info", {})) == ["litellm_provider"]
        )
    except (KeyError, TypeError, AttributeError, re.error):
        return (re.compile(""),)  # no readable rules: match every name, so litellm decides


def surely_unknown(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """True when litellm could not place `name` either, decided without importing it: a
    bare name (no `/`, and no `:` or `@` of fine-tunes and versioned ids) that is not in
    the model map and that no routing rule matches, with no litellm proxy configured."""
    environ = os.environ if environ is None else environ
    if environ.get("USE_LITELLM_PROXY") or not bundled_model_map():
        return False
    if any(c in name for c in "/:@") or name.lower().startswith(("gpt-image", "amazon_nova")):
        return False
    if name in _bare_names():
        return False
    return not any(rule.search(name) for rule in _routing_rules())


def _known_prefixes() -> frozenset[str]:
    providers = {v.get("litellm_provider") for v in bundled_model_map().values()}
    return (
        frozenset(p for p in providers if isinstance(p, str))
        | KEY_VARIABLES.keys()
        | (LOCAL_PROVIDERS)
    )


def provider_of(name: str) -> str:
    """The provider litellm would send `name` to; `ModelError` (one line) if none."""
    prefix, sep, rest = name.partition("/")
    if sep and rest and prefix in _known_prefixes():
        return prefix
    info = bundled_model_map().get(name)
    if info is not None and isinstance(info.get("litellm_provider"), str):
        return info["litellm_provider"]
    unknown = ModelError(
        f"unknown model {name!r}: not in litellm's model map and no provider prefix it"
        " knows; write provider/model, e.g. openai/gpt-4o or ollama/qwen2.5-coder"
    )
    if surely_unknown(name):
        raise unknown
    from agents.models.litellm_backend import import_litellm

    litellm = import_litellm()
    try:
        return str(litellm.get_llm_provider(name)[1])
    except Exception:  # litellm raises BadRequestError for a name it cannot place
        raise unknown from None


def missing_credentials(
    name: str, provider: str, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The variables to set before `name` can be called (empty: nothing is missing)."""
    environ = os.environ if environ is None else environ
    if provider in LOCAL_PROVIDERS:
        return []
    names = KEY_VARIABLES.get(provider)
    if names is not None:
        return [] if any(environ.get(v, "").strip() for v in names) else list(names)
    from agents.models.litellm_backend import import_litellm

    checked = import_litellm().validate_environment(model=name)
    return [] if checked.get("keys_in_environment") else list(checked.get("missing_keys", []))


def preflight(
    name: str, *, api_key: str | None = None, environ: Mapping[str, str] | None = None
) -> None:
    """Raise a one-line `ModelError` if `name` cannot be called: unknown model, or missing
    credentials (naming the variable to set). An explicit `api_key` stands for the key."""
    provider = provider_of(name)
    if api_key:
        return
    missing = missing_credentials(name, provider, environ)
    if missing:
        either = " or ".join(missing)
        raise ModelError(
            f"{name}: set {either} (the {provider} credentials) in the environment;"
            " no request was made"
        )
