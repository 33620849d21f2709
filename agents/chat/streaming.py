"""A model call whose reply streams to the terminal where the backend can stream.

Only litellm streams (a network model takes seconds to answer; watching the words arrive is
how a person knows it is working). The other backends answer at once or from files, so they
are called as in a solve run and their reply is shown whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from agents.models import ModelError, Reply
from agents.models.base import one_line


def complete(
    model: Any, messages: list[dict[str, str]], task: Any, on_chunk: Callable[[str], None]
) -> Reply:
    from agents.models.litellm_backend import LiteLLMModel

    if isinstance(model, LiteLLMModel):
        return stream_litellm(model, messages, on_chunk)
    from agents.models.builtin import BuiltinModel

    if isinstance(model, BuiltinModel) and messages[-1]["content"].startswith("Tool results:"):
        # The compiler writes one program whatever is asked; after its check there is
        # nothing more it can say.
        return Reply(text="That is the builtin compiler's program, checked above.", model="builtin")
    return model.complete(messages, task=task)


def stream_litellm(
    model: Any, messages: list[dict[str, str]], on_chunk: Callable[[str], None]
) -> Reply:
    """One streamed litellm completion (no retries: a person is waiting and can ask again)."""
    from agents.models.litellm_backend import import_litellm

    litellm = import_litellm()
    kwargs: dict[str, Any] = {
        "model": model.name,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "timeout": model.timeout_s,
        "num_retries": 0,
        "drop_params": True,
    }
    if model.api_base:
        kwargs["api_base"] = model.api_base
    if model.api_key:
        kwargs["api_key"] = model.api_key
    start = time.monotonic()
    chunks, parts = [], []
    try:
        for chunk in litellm.completion(**kwargs):
            chunks.append(chunk)
            delta = chunk.choices[0].delta.content if chunk.choices else None
            if delta:
                parts.append(delta)
                on_chunk(delta)
    except Exception as exc:  # any provider failure ends this reply with one line
        raise ModelError(f"{model.name}: {type(exc).__name__}: {one_line(exc)}") from None
    whole = litellm.stream_chunk_builder(chunks, messages=messages)
    usage = getattr(whole, "usage", None)
    try:
        cost = float(litellm.completion_cost(completion_response=whole) or 0.0)
    except Exception:  # no price known for this model: counted as 0
        cost = 0.0
    return Reply(
        text="".join(parts),
        model=model.name,
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        cost_usd=cost,
        seconds=time.monotonic() - start,
    )
