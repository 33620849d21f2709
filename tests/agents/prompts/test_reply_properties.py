"""Property tests: whatever a model sends, the parser either returns a usable program or
raises `ReplyError` with a one-line reason — never anything else."""

from __future__ import annotations

import ast

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.prompts import ReplyError, extract_program

PIECES = [
    "Here is the kernel:",
    "```python",
    "```py",
    "```bash",
    "```",
    "~~~",
    "<think>",
    "</think>",
    "from dsl import step",
    "from dsl import sam",
    "import dsl.dae",
    "def kernel(x, **params):",
    "    return step.map(x, 'exp')",
    "    y = step.map(x,",
    "    return x",
    "def helper(x):",
    "This uses one map.",
    "",
    "    ",
    "x = (",
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(PIECES), st.text(max_size=30)),
        max_size=25,
    ),
    st.sampled_from(["step", "sam", "dae"]),
)
def test_parser_returns_a_program_or_a_reason(lines, dialect):
    reply = "\n".join(lines)
    try:
        program = extract_program(reply, dialect)
    except ReplyError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    tree = ast.parse(program)
    assert any(isinstance(n, ast.FunctionDef) and n.name == "kernel" for n in tree.body)
    assert any(
        f in program
        for f in (f"dsl import {dialect}", f"import dsl.{dialect}", f"from dsl.{dialect}")
    )
