"""How the chat's model uses the tools: the words it writes, and the text it reads back.

The project's models are text in, text out (litellm, scripted, builtin and queue alike), so a
tool call is text too — and the same text a person types: a line starting with a slash
(`/eval`, `/sim`, `/tune`, `/recall`, `/show OP`). A ```python fence replaces the program; a
```diff fence edits it (unified diff against the current program). One vocabulary for the
person and the model means one parser, one dispatcher, and transcripts anyone can replay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MODEL_COMMANDS = ("eval", "sim", "tune", "recall", "show")
"""Slash commands a model may call (the person has more: /help lists them)."""

PROTOCOL = """\
You work with a person on one kernel in an interactive session. You have tools; call them
by writing lines of their own, each starting with a slash, outside any code fence:
  /eval          verify the current program (correctness on fresh inputs, cycles, feedback)
  /sim           /eval plus where the cycles go (per-op busy cycles, a compact timeline)
  /tune [N]      tune the parameters the program declares with @<dialect>.tunable (N runs)
  /recall [text] verified programs of similar tasks (or matching text) from memory
  /show OP       the dialect reference entry of one op
To write the whole program, give it in one ```python fence. To change part of it, give a
unified diff against the current program in a ```diff fence (--- / +++ / @@ hunks with
a few context lines). After you change the program it is verified at once. Tool results
come back in the next message. When you are done, answer without any tool call: say what
you changed and what the figures were."""


@dataclass(frozen=True)
class Action:
    """One thing a reply asks for: `write` (text = program), `edit` (text = diff), or a
    slash command (`name` in MODEL_COMMANDS, `arg` its rest of line)."""

    name: str
    arg: str = ""
    text: str = ""


_FENCE = re.compile(r"^(`{3,})([A-Za-z]*)[ \t]*$")


def parse_reply(text: str) -> list[Action]:
    """The actions of a reply, in order. Slash lines inside a fence are code, not calls."""
    actions: list[Action] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opener = _FENCE.match(lines[i].strip())
        if opener:
            fence, lang = opener.group(1), opener.group(2).lower()
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i].strip() != fence:
                body.append(lines[i])
                i += 1
            block = "\n".join(body) + "\n"
            if lang in ("python", "py"):
                actions.append(Action("write", text=block))
            elif lang in ("diff", "patch", "udiff"):
                actions.append(Action("edit", text=block))
        else:
            match = re.match(r"^/([a-z]+)\b[ \t]*(.*)$", lines[i].strip())
            if match and match.group(1) in MODEL_COMMANDS:
                actions.append(Action(match.group(1), arg=match.group(2).strip()))
        i += 1
    return actions


class PatchError(ValueError):
    """A diff that does not apply to the current program (one line: which hunk, why)."""


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@")


def apply_diff(program: str, diff: str) -> str:
    """Apply a unified diff to `program`. Each hunk's old lines (context and removals) must
    occur in the program; line numbers are a hint (models miscount), so the occurrence
    nearest the stated line wins."""
    lines = program.splitlines()
    hunks: list[tuple[int, list[str]]] = []
    for raw in diff.splitlines():
        header = _HUNK.match(raw)
        if header:
            hunks.append((int(header.group(1)), []))
        elif raw.startswith(("---", "+++")) and (not hunks or not hunks[-1][1]):
            continue
        elif hunks and raw[:1] in (" ", "-", "+", ""):
            hunks[-1][1].append(raw if raw else " ")
    if not hunks:
        raise PatchError("the diff has no @@ hunk")
    shift = 0
    for number, (line_no, body) in enumerate(hunks, start=1):
        old = [b[1:] for b in body if b[0] in " -"]
        new = [b[1:] for b in body if b[0] in " +"]
        starts = [s for s in range(len(lines) - len(old) + 1) if lines[s : s + len(old)] == old]
        if not old:
            starts = [min(max(line_no + shift, 0), len(lines))]
        if not starts:
            first = old[0].strip() if old else ""
            raise PatchError(
                f"hunk {number} does not match the program (its old lines, from {first!r},"
                " are not there): send the whole program in a ```python fence"
            )
        at = min(starts, key=lambda s: abs(s - (line_no - 1 + shift)))
        lines[at : at + len(old)] = new
        shift += len(new) - len(old)
    return "\n".join(lines) + "\n"


def clip(text: str, limit: int = 1500) -> str:
    """At most `limit` characters (the model's context is shared with the program)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
