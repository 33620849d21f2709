"""A model made of files: each prompt is written to a folder, the reply is read beside it.

For air-gapped machines and for models without an API: a person, a script or another
program watches the folder and answers.

    <dir>/<id>.prompt.json   written by us: {"id", "task", "dialect", "messages",
                             "temperature", "max_tokens", "created", "reply_to"}
    <dir>/<id>.prompt.md     the same prompt laid out for a person to read
    <dir>/<id>.reply.md      written by the answerer (or <id>.reply.txt)

Prompt files appear atomically (written aside, then renamed; the .json last), so a
watcher never reads half of one. Answerers should do the same; as a fallback a reply is
read only once it has not changed (size, modification time) for `settle_s` seconds. A
prompt that gets no reply in time is renamed `<id>.expired.json`, so nobody answers a
question no one is waiting for.

Nobody reports token counts here, so they are estimated (a character count / 4, the usual
rule of thumb for English and code with BPE tokenizers) and marked `tokens_estimated`:
results and the summary say "estimated" rather than show 0 or pass a guess off as a count.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from agents.models.base import ModelError, Reply

if TYPE_CHECKING:
    from benchmarks.task import Task

REPLY_SUFFIXES = (".reply.md", ".reply.txt")
DEFAULT_TIMEOUT_S = 1800.0
CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """A rough token count of `text` (at least 1 for non-empty text)."""
    return -(-len(text) // CHARS_PER_TOKEN)


class QueueModel:
    """Writes prompt files into `folder` and waits for reply files."""

    def __init__(
        self,
        folder: str | Path,
        *,
        timeout_s: float | None = None,
        poll_s: float = 0.2,
        settle_s: float = 1.0,
    ) -> None:
        self.folder = Path(folder)
        if timeout_s is None:
            raw = os.environ.get("AGENT_QUEUE_TIMEOUT", str(DEFAULT_TIMEOUT_S))
            try:
                timeout_s = float(raw)
            except ValueError:
                raise ModelError(f"AGENT_QUEUE_TIMEOUT must be seconds, got {raw!r}") from None
        if timeout_s <= 0 or poll_s <= 0 or settle_s < 0:
            raise ModelError("queue model: timeout and poll interval must be positive")
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.settle_s = settle_s
        self.name = f"queue:{self.folder}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelError(
                f"queue model: cannot create {self.folder}: {exc.strerror or exc}"
            ) from None

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.7,
        max_tokens: int = 4096,
        task: Task | None = None,
    ) -> Reply:
        start = time.monotonic()
        prompt_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        prompt_path = self.folder / f"{prompt_id}.prompt.json"
        payload = {
            "id": prompt_id,
            "task": task.key if task is not None else None,
            "dialect": task.dialect if task is not None else None,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "created": time.time(),
            "reply_to": [f"{prompt_id}{suffix}" for suffix in REPLY_SUFFIXES],
        }
        _write_atomically(self.folder / f"{prompt_id}.prompt.md", _readable(payload))
        _write_atomically(prompt_path, json.dumps(payload, indent=1))
        text = self._wait_for_reply(prompt_id, start)
        if text is None:
            prompt_path.replace(self.folder / f"{prompt_id}.expired.json")
            (self.folder / f"{prompt_id}.prompt.md").unlink(missing_ok=True)
            raise ModelError(f"queue model: no reply to {prompt_path} within {self.timeout_s:g} s")
        return Reply(
            text=text,
            model=self.name,
            prompt_tokens=sum(estimate_tokens(m.get("content", "")) for m in messages),
            completion_tokens=estimate_tokens(text),
            seconds=time.monotonic() - start,
            tokens_estimated=True,
        )

    def _wait_for_reply(self, prompt_id: str, start: float) -> str | None:
        candidates = [self.folder / f"{prompt_id}{suffix}" for suffix in REPLY_SUFFIXES]
        deadline = start + self.timeout_s
        last_seen: tuple[int, int] | None = None
        steady_since = 0.0
        while True:
            found = next((p for p in candidates if p.is_file()), None)
            now = time.monotonic()
            if found is None:
                if now >= deadline:
                    return None
            else:
                info = found.stat()
                seen = (info.st_size, info.st_mtime_ns)
                if seen != last_seen:
                    last_seen, steady_since = seen, now
                # Unchanged for `settle_s`: the answerer is done. A reply still changing
                # well past the deadline is taken as it is.
                elif now - steady_since >= self.settle_s or now >= deadline + self.settle_s:
                    return found.read_text(errors="replace")
            time.sleep(self.poll_s)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def _readable(payload: dict) -> str:
    parts = [f"# Prompt {payload['id']} (task {payload['task']})", ""]
    for message in payload["messages"]:
        parts += [f"## {message.get('role', '?')}", "", message.get("content", ""), ""]
    replies = " or ".join(payload["reply_to"])
    parts.append(f"<!-- answer by writing {replies} in this folder -->")
    return "\n".join(parts) + "\n"
