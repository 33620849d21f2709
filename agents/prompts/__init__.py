"""Prompts built from the dialect's reference and the task, and parsing of the replies."""

from __future__ import annotations

from agents.prompts.builder import (
    MODE_MARKERS,
    MODES,
    Mode,
    PromptError,
    build_messages,
    prompt_hash,
    render_feedback,
    render_signature,
)
from agents.prompts.lessons import Example, pair_of
from agents.prompts.reply import MAX_REPLY_BYTES, ReplyError, extract_program

__all__ = [
    "MAX_REPLY_BYTES",
    "MODE_MARKERS",
    "MODES",
    "Example",
    "Mode",
    "PromptError",
    "ReplyError",
    "build_messages",
    "extract_program",
    "pair_of",
    "prompt_hash",
    "render_feedback",
    "render_signature",
]
