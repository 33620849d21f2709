"""Model backends behind one interface, and how a run chooses one.

    spec                      backend
    builtin                   the dialects' compilers, no LLM (the default)
    scripted:<file.jsonl>     replays a script of replies (tests, demos)
    queue:<dir>               prompts as files, replies as files (people, air-gapped use)
    anything else             a litellm model string: openai/gpt-4o, anthropic/claude-…,
                              ollama/qwen2.5-coder, hosted_vllm/…

Provider settings (keys, local server addresses) come from the environment variables
litellm reads: OPENAI_API_KEY, ANTHROPIC_API_KEY, OLLAMA_API_BASE, HOSTED_VLLM_API_BASE, …
Nothing heavy is imported here: litellm loads on a network model's first call.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from agents.models.base import BudgetExceeded, Model, ModelConfigError, ModelError, Reply
from agents.models.cost import CallRecord, CostMeter, MeteredModel, Usage

__all__ = [
    "BudgetExceeded",
    "CallRecord",
    "CONFIG_FILE",
    "CostMeter",
    "MeteredModel",
    "Model",
    "ModelConfigError",
    "ModelError",
    "Reply",
    "Usage",
    "get_model",
    "resolve_model_spec",
]

CONFIG_FILE = ".agent.toml"
ENV_VAR = "AGENT_MODEL"


def resolve_model_spec(flag: str | None, *, cwd: Path | None = None) -> tuple[str, str]:
    """The model to use and where that choice came from.

    Order: the `--model` flag, then $AGENT_MODEL, then `[model] name` in `.agent.toml` in
    the working directory, else `builtin`. The second value names the source, for the one
    line a run prints at start.
    """
    if flag is not None and flag.strip():
        return flag.strip(), "--model flag"
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return env, f"${ENV_VAR}"
    path = (cwd or Path.cwd()) / CONFIG_FILE
    if path.is_file():
        try:
            config = tomllib.loads(path.read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ModelError(f"{path}: cannot read config: {exc}") from None
        section = config.get("model")
        if section is not None:
            name = section.get("name") if isinstance(section, dict) else None
            if not isinstance(name, str) or not name.strip():
                raise ModelError(f'{path}: [model] needs name = "<model>" (a non-empty string)')
            return name.strip(), str(path)
    return "builtin", "default (no --model, $AGENT_MODEL or .agent.toml)"


def get_model(spec: str) -> Model:
    """The backend for a spec (see the module docstring); bad specs raise `ModelError`."""
    spec = spec.strip()
    if spec == "builtin":
        from agents.models.builtin import BuiltinModel

        return BuiltinModel()
    kind, sep, rest = spec.partition(":")
    if sep and kind == "scripted":
        from agents.models.scripted import ScriptedModel

        if not rest:
            raise ModelError("scripted model needs a file: scripted:<replies.jsonl>")
        return ScriptedModel(rest)
    if sep and kind == "queue":
        from agents.models.file_queue import QueueModel

        if not rest:
            raise ModelError("queue model needs a folder: queue:<dir>")
        return QueueModel(rest)
    from agents.models.litellm_backend import LiteLLMModel

    return LiteLLMModel(spec)
