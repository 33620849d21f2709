"""A model that replays replies from a JSONL file: what tests and demos use.

Each line is one object:

    {"text": "```python ...```"}                      a reply
    {"error": "rate limited"}                         the provider failing (ModelError)
    {"text": "...", "match": "repair"}                only for a prompt containing "repair"
    {"text": "...", "prompt_tokens": 900, "completion_tokens": 120, "cost_usd": 0.01}

Entries are used once, in file order: a call takes the first unused entry whose `match`
(if any) occurs in the prompt's non-system messages (the system message holds the whole
dialect reference, where almost any word occurs). `agents.prompts.MODE_MARKERS` gives a
phrase that tells each kind of prompt apart. When none is left, the call raises `ModelError`, so
a script that is shorter than the run fails loudly instead of looping.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agents.models.base import ModelError, Reply

if TYPE_CHECKING:
    from benchmarks.task import Task

_KNOWN_KEYS = {"text", "error", "match", "prompt_tokens", "completion_tokens", "cost_usd"}


@dataclass(frozen=True)
class ScriptedEntry:
    line: int
    text: str | None
    error: str | None
    match: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


def parse_script(path: Path) -> list[ScriptedEntry]:
    """Read and check a script; a bad line raises `ModelError` naming file and line."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ModelError(f"scripted model: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ModelError(f"scripted model: {path}: not UTF-8 text (byte {exc.start})") from None
    entries = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ModelError(f"scripted model: {where}: not JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise ModelError(f"scripted model: {where}: each line must be a JSON object")
        unknown = set(obj) - _KNOWN_KEYS
        if unknown:
            raise ModelError(f"scripted model: {where}: unknown keys {sorted(unknown)}")
        if ("text" in obj) == ("error" in obj):
            raise ModelError(f"scripted model: {where}: give exactly one of 'text' or 'error'")
        for key in ("text", "error", "match"):
            if key in obj and not isinstance(obj[key], str):
                raise ModelError(f"scripted model: {where}: {key!r} must be a string")
        try:
            entry = ScriptedEntry(
                line=number,
                text=obj.get("text"),
                error=obj.get("error"),
                match=obj.get("match"),
                prompt_tokens=int(obj.get("prompt_tokens", 0)),
                completion_tokens=int(obj.get("completion_tokens", 0)),
                cost_usd=float(obj.get("cost_usd", 0.0)),
            )
        except (TypeError, ValueError):
            raise ModelError(
                f"scripted model: {where}: token counts and cost must be numbers"
            ) from None
        entries.append(entry)
    return entries


class ScriptedModel:
    """Replays a JSONL script (thread-safe: parallel samples each take their own entry).

    `prompts` keeps every prompt received, so tests can check what the workflow asked.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"scripted:{self.path}"
        self._entries = parse_script(self.path)
        self._used = [False] * len(self._entries)
        self._lock = threading.Lock()
        self.prompts: list[list[dict[str, str]]] = []

    @property
    def remaining(self) -> int:
        with self._lock:
            return self._used.count(False)

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.7,
        max_tokens: int = 4096,
        task: Task | None = None,
    ) -> Reply:
        prompt = "\n".join(m.get("content", "") for m in messages if m.get("role") != "system")
        with self._lock:
            self.prompts.append([dict(m) for m in messages])
            entry = self._take(prompt)
        if entry is None:
            raise ModelError(
                f"scripted model {self.path.name}: no reply left for call {len(self.prompts)}"
                f" ({len(self._entries)} scripted)"
            )
        if entry.error is not None:
            raise ModelError(f"provider error (scripted, line {entry.line}): {entry.error}")
        return Reply(
            text=entry.text or "",
            model=self.name,
            prompt_tokens=entry.prompt_tokens,
            completion_tokens=entry.completion_tokens,
            cost_usd=entry.cost_usd,
        )

    def _take(self, prompt: str) -> ScriptedEntry | None:
        for i, entry in enumerate(self._entries):
            if not self._used[i] and (entry.match is None or entry.match in prompt):
                self._used[i] = True
                return entry
        return None
