from __future__ import annotations

import time

import pytest

from agents.prompts import ReplyError, extract_program

PROGRAM = 'from dsl import step\n\n\ndef kernel(x, **params):\n    return step.map(x, fn="exp")\n'


def fenced(code: str, lang: str = "python") -> str:
    return f"```{lang}\n{code}```\n"


def test_fenced_reply_with_prose():
    reply = "Sure! Here is the kernel:\n\n" + fenced(PROGRAM) + "\nIt applies exp elementwise."
    assert extract_program(reply, "step") == PROGRAM


def test_bare_program():
    assert extract_program(PROGRAM, "step") == PROGRAM


def test_unfenced_program_between_prose():
    reply = "Here is my answer.\n\n" + PROGRAM + "\nThis maps exp over every tile.\n\n"
    assert extract_program(reply, "step") == PROGRAM


def test_picks_the_block_that_is_a_program():
    reply = (
        "Run it with:\n"
        + fenced("agent eval step/exp prog.py", "bash")
        + "A helper idea:\n"
        + fenced("x = 1\n")
        + "The kernel:\n"
        + fenced(PROGRAM)
        + "Usage:\n"
        + fenced("print(kernel)\n")
    )
    assert extract_program(reply, "step") == PROGRAM


def test_last_good_block_wins_over_an_earlier_draft():
    draft = PROGRAM.replace("exp", "log")
    reply = "First try:\n" + fenced(draft) + "Better:\n" + fenced(PROGRAM)
    assert extract_program(reply, "step") == PROGRAM


def test_tilde_fences_and_py_label():
    assert extract_program(f"~~~py\n{PROGRAM}~~~\n", "step") == PROGRAM


def test_program_under_another_label():
    assert extract_program(fenced(PROGRAM, "text"), "step") == PROGRAM


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("I cannot help with that.", "no code in the reply"),
        ("", "no code in the reply"),
        ("```python\n```\n", "no code in the reply"),
        # cut off by the token limit inside the fence
        (
            "```python\nfrom dsl import step\n\ndef kernel(x):\n    y = step.map(x,\n",
            "truncated code",
        ),
        # fence closed but the code stops mid-expression
        (
            fenced("from dsl import step\ndef kernel(x):\n    return step.map(x, [1, 2\n"),
            "truncated code",
        ),
        # the fence never closes although the code parses
        ("```python\n" + PROGRAM, "truncated code (the reply ended inside a code block)"),
        (PROGRAM + "    y = step.map(x, (\n", "truncated code"),
        (
            fenced("from dsl import step\ndef kernel(x):\n    return x +* 2\n"),
            "code does not parse (line 3",
        ),
        (
            fenced(PROGRAM.replace("dsl import step", "dsl import sam")),
            "written for dialect sam, but the task is in step",
        ),
        (fenced("import dsl.dae\n" + PROGRAM), "written for dialect dae"),
        (
            fenced("import numpy as np\n\ndef kernel(x):\n    return np.exp(x)\n"),
            "does not import the step dialect",
        ),
        (
            fenced("from dsl import step\n\ndef helper(x):\n    return x\n"),
            "defines no top-level `def kernel",
        ),
    ],
)
def test_bad_replies_have_one_line_reasons(reply, reason):
    with pytest.raises(ReplyError) as info:
        extract_program(reply, "step")
    message = str(info.value)
    assert reason in message
    assert "\n" not in message


def test_reason_comes_from_the_most_complete_block():
    reply = fenced("from dsl import sam\n\ndef kernel(x):\n    return x\n") + fenced("x = (\n")
    with pytest.raises(ReplyError, match="written for dialect sam"):
        extract_program(reply, "step")


def test_one_megabyte_reply_is_refused_quickly():
    reply = "```python\n" + "x = 1\n" * 180_000 + "```"
    with pytest.raises(ReplyError, match=r"reply is 1080 KB, over the 200 KB limit"):
        extract_program(reply, "step")


def test_deeply_nested_code_is_not_a_crash():
    reply = fenced(
        "from dsl import step\ndef kernel(x):\n    return " + "(" * 5000 + "x" + ")" * 5000 + "\n"
    )
    with pytest.raises(ReplyError, match="does not parse|truncated"):
        extract_program(reply, "step")


def test_null_bytes_are_not_a_crash():
    with pytest.raises(ReplyError, match="does not parse"):
        extract_program(fenced("from dsl import step\x00\ndef kernel(x):\n    return x\n"), "step")


def test_every_dialect():
    for dialect in ("step", "sam", "dae"):
        program = f"from dsl import {dialect}\n\n\ndef kernel(a, **params):\n    return a\n"
        assert extract_program(fenced(program), dialect) == program
        with pytest.raises(ReplyError, match="unknown dialect"):
            extract_program(fenced(program), "cuda")


def test_windows_line_endings():
    reply = ("Here:\n" + fenced(PROGRAM)).replace("\n", "\r\n")
    assert extract_program(reply, "step") == PROGRAM


def test_fence_indented_inside_a_list_item():
    indented = "".join(f"   {line}\n" if line else "\n" for line in PROGRAM.splitlines())
    reply = "1. The kernel:\n\n   ```python\n" + indented + "   ```\n"
    assert extract_program(reply, "step") == PROGRAM


def test_thinking_drafts_are_not_the_answer():
    draft = fenced(PROGRAM.replace("exp", "log"))
    reply = f"<think>\nMaybe this?\n{draft}No, exp.\n</think>\n\nFinal answer:\n" + fenced(PROGRAM)
    assert extract_program(reply, "step") == PROGRAM
    thinking_only = f"<think>\nLet me try\n{fenced(PROGRAM)}and then check the shapes"
    with pytest.raises(ReplyError, match="still thinking"):
        extract_program(thinking_only, "step")
    with pytest.raises(ReplyError, match="no code in the reply"):
        extract_program(f"<think>{fenced(PROGRAM)}</think>I give up.", "step")


@pytest.mark.parametrize(
    "reply",
    [
        "from dsl import step\n" + "a " * 90_000 + "=",  # a long line that is nearly prose
        "<think>" * 25_000,  # thinking that never closes, many times over
        "```python\n" * 15_000,  # fences that never close
        "```\n" * 45_000,  # fences that close each other, all empty
        "from dsl import step\n" + "(" * 150_000,
    ],
    ids=["near-prose line", "unclosed thinking", "unclosed fences", "empty fences", "parens"],
)
def test_hostile_replies_are_handled_in_linear_time(reply):
    start = time.perf_counter()
    with pytest.raises(ReplyError):
        extract_program(reply, "step")
    assert time.perf_counter() - start < 2.0
