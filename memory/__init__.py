"""Experience memory: every attempt, the best verified solutions, and recall of examples."""

from __future__ import annotations

import os
from pathlib import Path

from memory.errors import StoreDamaged, StoreError, StoreFull, StoreLocked
from memory.store import Attempt, ExperienceStore

__all__ = [
    "Attempt",
    "ExperienceStore",
    "StoreDamaged",
    "StoreError",
    "StoreFull",
    "StoreLocked",
    "default_store_path",
]

ENV_VAR = "AGENT_MEMORY"


def default_store_path() -> Path:
    """$AGENT_MEMORY, else `~/.agent/memory.sqlite`: one store per user, so every project and
    every front end (`agent solve`, `improve`, `chat`, `mcp`) learns from the same runs."""
    raw = os.environ.get(ENV_VAR, "").strip()
    return Path(raw).expanduser() if raw else Path.home() / ".agent" / "memory.sqlite"
