"""An unknown bare model name is refused from litellm's bundled files alone (no import of
litellm, which takes seconds), and never a name that litellm itself would place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agents.models.litellm_backend import import_litellm
from agents.models.preflight import surely_unknown

ROOT = Path(__file__).resolve().parents[3]
NONSENSE = ["gpt-nonsense-9", "claude", "my-coder", "deepseek-coderr", "gpt4o"]


def _places(litellm, name: str) -> bool:
    try:
        litellm.get_llm_provider(name)
    except Exception:
        return False
    return True


def test_no_name_litellm_lists_and_places_is_refused_from_the_files() -> None:
    litellm = import_litellm()
    embedding = set(litellm.all_embedding_models)  # never asked to write a program
    refused = []
    for attribute in dir(litellm):
        listed = getattr(litellm, attribute)
        if not attribute.endswith("_models") or not isinstance(listed, list | set | frozenset):
            continue
        for name in listed:
            if not isinstance(name, str) or name in embedding or not surely_unknown(name):
                continue
            if _places(litellm, name):
                refused.append(f"{attribute}: {name}")
    assert refused == []


@pytest.mark.parametrize("name", NONSENSE)
def test_names_refused_from_the_files_are_the_ones_litellm_refuses(name: str) -> None:
    assert surely_unknown(name, environ={})
    assert not _places(import_litellm(), name)


def test_a_new_model_of_a_routing_rule_and_prefixed_names_go_to_litellm() -> None:
    assert not surely_unknown("claude-opus-9-1", environ={})  # the anthropic routing rule
    for name in ("gpt-4o", "nonsense/model", "ft:gpt-4o:org::id", "claude-3@2024"):
        assert not surely_unknown(name, environ={})
    assert not surely_unknown("gpt-nonsense-9", environ={"USE_LITELLM_PROXY": "True"})


def test_refusing_an_unknown_name_does_not_import_litellm() -> None:
    probe = (
        "import sys\n"
        "from agents.models import ModelError\n"
        "from agents.models.preflight import preflight\n"
        "try:\n"
        "    preflight('gpt-nonsense-9', environ={})\n"
        "except ModelError as exc:\n"
        "    print(exc)\n"
        "print('litellm' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    message, imported = done.stdout.strip().splitlines()
    assert message.startswith("unknown model 'gpt-nonsense-9'") and imported == "False"
