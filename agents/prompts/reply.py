"""Finding the program in a model's reply, or saying in one line why there is none.

Models answer in many shapes: one ```python fence, several fences (a draft, a usage
example, the final program), a bare program, a program wrapped in prose, a reply cut off
by the token limit. The parser only *parses* (with `ast`); nothing in the reply runs here.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from dsl import DIALECTS

MAX_REPLY_BYTES = 200_000
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+.-]*)[^\n]*$", re.MULTILINE)
_PYTHON_LANGS = {"", "python", "py", "python3", "py3"}
_CODE_START = re.compile(r"^(from\s+\S+\s+import\b|import\s+\S|def\s+\w+\s*\(|@\w)")
_KEYWORDS = frozenset(
    {"def", "class", "return", "import", "from", "if", "for", "while", "with", "try"}
)
_TRUNCATION_HINTS = (
    "was never closed",
    "unexpected EOF",
    "unterminated",
    "expected an indented block",
)


class ReplyError(Exception):
    """The reply holds no usable program; the message (one line) says why."""


@dataclass(frozen=True)
class _Block:
    code: str
    closed: bool  # False: the reply ended inside this fence


def extract_program(reply_text: str, dialect: str) -> str:
    """The program in `reply_text`, written for `dialect`, or `ReplyError(reason)`.

    Among several code blocks the one chosen is the last that parses, defines `kernel` and
    imports `dialect` (models put the final version last); failing that, the reason given
    is that of the most complete candidate.
    """
    size = len(reply_text.encode("utf-8", errors="replace"))
    if size > MAX_REPLY_BYTES:
        raise ReplyError(f"reply is {size // 1000} KB, over the {MAX_REPLY_BYTES // 1000} KB limit")
    if dialect not in DIALECTS:
        raise ReplyError(f"unknown dialect {dialect!r}")
    text = _without_thinking(reply_text.replace("\r\n", "\n"))
    blocks = _fenced_blocks(text)
    if not blocks:
        blocks = _unfenced_blocks(text)
    if not blocks:
        raise ReplyError("no code in the reply")
    problems: list[tuple[int, str]] = []  # (how far the block got, reason)
    for block in reversed(blocks):
        verdict = _check(block, dialect)
        if isinstance(verdict, str):
            return verdict
        problems.append(verdict)
    problems.sort(key=lambda p: -p[0])  # stable: ties keep the last block's reason
    raise ReplyError(problems[0][1])


def _without_thinking(text: str) -> str:
    """The reply without `<think>…</think>` sections: reasoning models (DeepSeek-R1, QwQ)
    think aloud first, and drafts in there are not the answer. (Plain string search, so
    hostile input cannot make a regex backtrack.)"""
    parts = []
    position = 0
    while (start := text.find("<think>", position)) != -1:
        parts.append(text[position:start])
        end = text.find("</think>", start)
        if end == -1:
            raise ReplyError("no code in the reply (it ended while the model was still thinking)")
        position = end + len("</think>")
    parts.append(text[position:])
    return "".join(parts)


def _is_prose(line: str) -> bool:
    """An unindented sentence: words and punctuation, none of the brackets or `=` code has."""
    words = line.split()
    return (
        len(words) > 1
        and line[0].isalpha()
        and words[0] not in _KEYWORDS
        and not any(c in line for c in "=()[]{}#")
    )


def _check(block: _Block, dialect: str) -> str | tuple[int, str]:
    """The block's code if usable, else (progress, reason): progress ranks how close it came."""
    code = textwrap.dedent(block.code).strip("\n")  # fences inside list items are indented
    if not code.strip():
        return (0, "no code in the reply")
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        message = f"{where}{exc.msg}"
        if not block.closed or any(h in exc.msg for h in _TRUNCATION_HINTS):
            return (
                1,
                f"truncated code ({message}); the reply seems cut off — send the whole program",
            )
        return (1, f"code does not parse ({message})")
    except (ValueError, RecursionError, MemoryError) as exc:
        return (1, f"code does not parse ({type(exc).__name__})")
    if not block.closed:
        return (1, "truncated code (the reply ended inside a code block)")
    imported = _dialects_imported(tree)
    others = sorted(imported - {dialect})
    if others:
        return (2, f"code is written for dialect {', '.join(others)}, but the task is in {dialect}")
    if dialect not in imported:
        return (
            2,
            f"code does not import the {dialect} dialect (expected `from dsl import {dialect}`)",
        )
    if not any(isinstance(n, ast.FunctionDef) and n.name == "kernel" for n in tree.body):
        return (3, "code defines no top-level `def kernel(...)`")
    return code + "\n"


def _dialects_imported(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] == "dsl" and len(parts) > 1:
                found.add(parts[1])
            elif node.module == "dsl":
                found.update(a.name for a in node.names if a.name in DIALECTS)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "dsl" and len(parts) > 1:
                    found.add(parts[1])
    return found & set(DIALECTS)


def _fenced_blocks(text: str) -> list[_Block]:
    """Python-looking fenced blocks, in order; an unclosed last fence counts (truncated)."""
    blocks: list[_Block] = []
    other: list[_Block] = []
    position = 0
    while True:
        opening = _FENCE.search(text, position)
        if opening is None:
            break
        marker, lang = opening.group(1), opening.group(2).lower()
        start = opening.end() + 1
        closing = re.compile(
            rf"^[ \t]*{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$", re.MULTILINE
        )
        end_match = closing.search(text, start)
        if end_match is None:
            block = _Block(text[start:], closed=False)
            position = len(text)
        else:
            block = _Block(text[start : end_match.start()], closed=True)
            position = end_match.end()
        (blocks if lang in _PYTHON_LANGS else other).append(block)
    # A program fenced under another label (```text) is still better than nothing.
    return blocks or [b for b in other if "def kernel" in b.code]


def _unfenced_blocks(text: str) -> list[_Block]:
    """A bare program, possibly between prose: from the first code-looking line to the
    end, without trailing lines of prose. Only prose is dropped, never code, so a program
    cut off mid-statement still reads as truncated."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        return []
    body = lines[start:]
    while body and (not body[-1].strip() or _is_prose(body[-1])):
        body.pop()
    return [_Block("\n".join(body), closed=True)] if body else []
