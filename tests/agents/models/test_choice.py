"""Choosing a model: flag, then environment, then config file, else builtin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agents.models import ModelError, get_model, resolve_model_spec
from agents.models.builtin import BuiltinModel
from agents.models.file_queue import QueueModel
from agents.models.litellm_backend import LiteLLMModel
from agents.models.scripted import ScriptedModel

ROOT = Path(__file__).resolve().parents[3]


def test_precedence(tmp_path, monkeypatch):
    assert resolve_model_spec(None, cwd=tmp_path) == (
        "builtin",
        "default (no --model, $AGENT_MODEL or .agent.toml)",
    )
    (tmp_path / ".agent.toml").write_text('[model]\nname = "ollama/qwen2.5-coder"\n')
    assert resolve_model_spec(None, cwd=tmp_path) == (
        "ollama/qwen2.5-coder",
        str(tmp_path / ".agent.toml"),
    )
    monkeypatch.setenv("AGENT_MODEL", " openai/gpt-4o ")
    assert resolve_model_spec(None, cwd=tmp_path) == ("openai/gpt-4o", "$AGENT_MODEL")
    assert resolve_model_spec("builtin", cwd=tmp_path) == ("builtin", "--model flag")
    assert resolve_model_spec("  ", cwd=tmp_path) == ("openai/gpt-4o", "$AGENT_MODEL")


def test_config_in_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / ".agent.toml").write_text('[model]\nname = "queue:replies"\n')
    monkeypatch.chdir(tmp_path)
    assert resolve_model_spec(None)[0] == "queue:replies"


def test_config_without_a_model_section_means_builtin(tmp_path):
    (tmp_path / ".agent.toml").write_text('[memory]\npath = "x.sqlite"\n')
    assert resolve_model_spec(None, cwd=tmp_path)[0] == "builtin"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[model\nname = 1", "cannot read config"),
        ("[model]\nname = 3\n", r"\[model\] needs name"),
        ('model = "gpt"\n', r"\[model\] needs name"),
        ('[model]\nname = ""\n', r"\[model\] needs name"),
    ],
)
def test_bad_config_is_one_line(tmp_path, text, reason):
    (tmp_path / ".agent.toml").write_text(text)
    with pytest.raises(ModelError, match=reason) as info:
        resolve_model_spec(None, cwd=tmp_path)
    assert str(tmp_path / ".agent.toml") in str(info.value)
    assert "\n" not in str(info.value)


def test_get_model_dispatch(tmp_path):
    script = tmp_path / "r.jsonl"
    script.write_text('{"text": "x"}\n')
    assert isinstance(get_model("builtin"), BuiltinModel)
    assert isinstance(get_model(f"scripted:{script}"), ScriptedModel)
    assert isinstance(get_model(f"queue:{tmp_path / 'q'}"), QueueModel)
    for spec in ("openai/gpt-4o", "anthropic/claude-sonnet-4-5", "ollama/llama3", "hosted_vllm/m"):
        model = get_model(spec)
        assert isinstance(model, LiteLLMModel) and model.name == spec
    with pytest.raises(ModelError, match="needs a file"):
        get_model("scripted:")


def test_choosing_a_model_does_not_import_litellm():
    """`agent --help` must stay fast: litellm (seconds to import) loads on first call only."""
    code = (
        "import sys\n"
        "from agents.models import get_model, resolve_model_spec, CostMeter\n"
        "get_model('openai/gpt-4o'); get_model('builtin')\n"
        "import agents.prompts, memory\n"
        "print('litellm' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
