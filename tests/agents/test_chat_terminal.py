"""`agent chat` driven through a pseudo-terminal (pexpect), as a person would use it, with the
scripted model: write -> fail -> repair -> save, resume, and Ctrl-C during a tool call."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys

import pytest

from memory.store import ExperienceStore

pexpect = pytest.importorskip("pexpect")

AGENT = shutil.which("agent") or os.path.join(os.path.dirname(sys.executable), "agent")
WAIT = 240  # seconds: a check builds in the sandbox and simulates, on a shared machine

GOOD = """from dsl import step


def kernel(a, b):
    rows = step.linear_offchip_load(a, (16, 128))
    rows_for_mm, rows_for_expand = step.copy(rows, 2)
    weight = step.expand(step.linear_offchip_load(b, (128, 64)), rows_for_expand)
    c = step.map([rows_for_mm, weight], "matmul", compute=4)
    return step.linear_offchip_store(c, "c")
"""
# Every output doubled: builds and runs, so only the comparison with PyTorch fails.
DOUBLED = GOOD.replace(
    'step.linear_offchip_store(c, "c")',
    'step.linear_offchip_store(step.map(c, step.fn.scale(factor=2.0)), "c")',
)
REPAIR = """@@ -9,1 +9,1 @@
-    return step.linear_offchip_store(step.map(c, step.fn.scale(factor=2.0)), "c")
+    return step.linear_offchip_store(c, "c")
"""


def spawn(tmp_path, *args: str, sigint=signal.SIG_DFL):
    """The chat in a fresh terminal; `sigint` is the SIGINT disposition it inherits (set here,
    not taken from however pytest itself was started)."""
    env = dict(
        os.environ,
        AGENT_MEMORY=str(tmp_path / "mem" / "memory.sqlite"),
        TERM="dumb",  # plain output: no colours between the words the test looks for
        PROMPT_TOOLKIT_NO_CPR="1",
    )
    env.pop("AGENT_MODEL", None)
    child = pexpect.spawn(
        AGENT,
        ["chat", *args],
        env=env,
        cwd=str(tmp_path),
        encoding="utf-8",
        timeout=WAIT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
    )
    child.logfile_read = open(tmp_path / "transcript.txt", "a")  # noqa: SIM115 (closed by exit)
    return child


def prompt(child) -> None:
    child.expect_exact("you> ")


def interrupt_check(child) -> None:
    """Ctrl-C as soon as a check starts; it must cancel it (a lost Ctrl-C fails at once
    when the check ends, not after WAIT)."""
    child.expect_exact("verifying step/gemm")
    child.sendintr()
    outcome = child.expect_exact(["cancelled (the session goes on)", "/eval passed"])
    assert outcome == 0, "Ctrl-C did not cancel the check: it ran to its end"


@pytest.mark.slow  # three checks in the sandbox plus the baseline's, then a resumed session
def test_write_fail_repair_save_then_resume(tmp_path):
    replies = tmp_path / "replies.jsonl"
    replies.write_text(
        "".join(
            json.dumps(entry) + "\n"
            for entry in (
                {"text": f"A first gemm:\n```python\n{DOUBLED}```\n"},
                {
                    "text": f"The output is doubled; dropping the scale.\n```diff\n{REPAIR}```\n",
                    "match": "/eval: incorrect",
                },
                {
                    "text": "Fixed: it passes now, 4 compute units on the matmul.",
                    "match": "/eval: passed",
                },
            )
        )
    )
    child = spawn(tmp_path, "--model", f"scripted:{replies}", "--task", "step/gemm")
    child.expect(r"new session ([0-9a-f]{8})")
    session = child.match.group(1)
    prompt(child)
    child.sendline("write a fast gemm")
    child.expect_exact("A first gemm")
    child.expect_exact("/eval incorrect")
    child.expect_exact("output 'c'")
    child.expect_exact("dropping the scale")
    child.expect_exact("/eval passed")
    child.expect_exact("Fixed: it passes now")
    prompt(child)
    child.sendline("/save kernel.py")
    child.expect(r"verified \(\d+ cycles\): memory attempt \d+")
    prompt(child)
    child.sendline("/quit")
    child.expect_exact(f"agent chat --resume {session}")
    child.expect(pexpect.EOF)

    assert (tmp_path / "kernel.py").read_text() == GOOD
    store = ExperienceStore(tmp_path / "mem" / "memory.sqlite")
    best = store.best("step/gemm")
    assert best is not None and best.program == GOOD and best.verified
    assert best.model == f"scripted:{replies}"
    store.close()

    listing = spawn(tmp_path, "--list")
    listing.expect_exact(session)
    listing.expect_exact("step/gemm")
    listing.expect(pexpect.EOF)

    again = spawn(tmp_path, "--resume", session)
    again.expect_exact(f"resumed session {session}")
    again.expect_exact("task step/gemm")
    again.expect_exact('step.map([rows_for_mm, weight], "matmul", compute=4)')
    prompt(again)
    again.sendline("/diff")
    again.expect_exact("step.fn.scale(factor=2.0)")  # the repair, from the saved history
    prompt(again)
    again.sendline("/undo")
    again.expect_exact("back to the previous program")
    prompt(again)
    again.sendline("/quit")
    again.expect(pexpect.EOF)


@pytest.mark.slow  # two checks are started and interrupted, then the session carries on
# "ignored": started as a shell without job control starts `cmd &` (SIGINT ignored, inherited)
@pytest.mark.parametrize("sigint", [signal.SIG_DFL, signal.SIG_IGN], ids=["default", "ignored"])
def test_ctrl_c_during_a_tool_call_keeps_the_session(tmp_path, sigint):
    (tmp_path / "gemm.py").write_text(GOOD)
    replies = tmp_path / "replies.jsonl"
    replies.write_text(json.dumps({"text": f"Here:\n```python\n{GOOD}```\n"}) + "\n")
    child = spawn(tmp_path, "--model", f"scripted:{replies}", "--task", "step/gemm", sigint=sigint)
    prompt(child)
    child.sendline("write it")  # the model writes; its check starts and is interrupted
    interrupt_check(child)
    prompt(child)
    child.sendline("/open gemm.py")
    child.expect_exact("opened gemm.py")
    prompt(child)
    child.sendline("/eval")  # the person's own check, interrupted too
    interrupt_check(child)
    prompt(child)
    child.sendline("/show map")
    child.expect_exact("apply fn to each element")
    prompt(child)
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
