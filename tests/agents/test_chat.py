"""`agent chat` without a terminal: the reply protocol, diffs, the user's own task, the
langgraph turn loop, session resume and Ctrl-C cancellation (tests/agents/test_chat_terminal.py
drives the real program through a pseudo-terminal)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from agents.chat.agent import MAX_STEPS, UNCONFIGURED, ChatAgent, list_sessions
from agents.chat.protocol import Action, PatchError, apply_diff, parse_reply
from agents.chat.session import Cancelled, Workbench, cancellable
from agents.chat.user_task import parse_shapes, task_from_reference
from agents.models import ModelError
from agents.tools import Toolbox, ToolError

PROGRAM = "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\n"


def test_reply_actions_in_order_and_slash_lines_in_fences_are_code():
    reply = (
        "Here it is.\n```python\nx = 1\n/eval inside code\n```\n"
        "/eval\nnot /sim (mid-line)\n/show map \n/frobnicate\n"
        "```diff\n@@ -1 +1 @@\n-x = 1\n+x = 2\n```\n/tune 5\n"
    )
    assert parse_reply(reply) == [
        Action("write", text="x = 1\n/eval inside code\n"),
        Action("eval"),
        Action("show", arg="map"),
        Action("edit", text="@@ -1 +1 @@\n-x = 1\n+x = 2\n"),
        Action("tune", arg="5"),
    ]
    assert parse_reply("Just words, no tools.") == []


def test_diff_applies_by_content_near_the_stated_line():
    diff = "--- a\n+++ b\n@@ -2,2 +2,3 @@\n b = 2\n-c = 3\n+c = 30\n+c2 = 31\n@@ -5,1 +6,1 @@\n-e = 5\n+e = 50\n"
    assert apply_diff(PROGRAM, diff) == "a = 1\nb = 2\nc = 30\nc2 = 31\nd = 4\ne = 50\n"
    # A miscounted line number still finds the lines (models miscount).
    assert apply_diff(PROGRAM, "@@ -40,1 +40,1 @@\n-d = 4\n+d = 40\n").count("d = 40") == 1
    # The nearest of two equal places wins.
    twice = "x = 0\ny = 1\nx = 0\n"
    assert apply_diff(twice, "@@ -3,1 +3,1 @@\n-x = 0\n+x = 9\n") == "x = 0\ny = 1\nx = 9\n"
    with pytest.raises(PatchError, match="hunk 2 does not match"):
        apply_diff(PROGRAM, "@@ -1 +1 @@\n-a = 1\n+a = 0\n@@ -3 +3 @@\n-c = 99\n+c = 0\n")
    with pytest.raises(PatchError, match="no @@ hunk"):
        apply_diff(PROGRAM, "-a = 1\n+a = 0\n")


def test_shapes_parse_and_name_what_is_wrong():
    assert parse_shapes("a=64x128, b=128:int64") == [
        ("a", (64, 128), "float32"),
        ("b", (128,), "int64"),
    ]
    for bad, says in (
        ("a=64by2", "NAME=DIMxDIM"),
        ("a=4:complex", "dtype 'complex'"),
        ("", "names no input"),
    ):
        with pytest.raises(ToolError, match=says):
            parse_shapes(bad)


def test_users_function_becomes_a_task(tmp_path):
    (tmp_path / "mine.py").write_text(
        "import torch\n\ndef scaled_sum(x, y):\n    return {'z': 2 * x + y, 's': x.sum(dim=1)}\n"
        "\ndef broken(x):\n    return x @ x\n"
    )
    task = task_from_reference(f"{tmp_path}/mine.py:scaled_sum", "x=4x6,y=4x6")
    assert task.key.startswith("step/mine_scaled_sum@") and task.target == "step_default"
    assert [(o.name, o.shape, o.dtype) for o in task.outputs] == [
        ("z", (4, 6), "float32"),
        ("s", (4,), "float32"),
    ]
    inputs = task.make_inputs({}, seed=3)
    out = task.reference_outputs(inputs, {})
    np.testing.assert_allclose(out["z"], 2 * inputs["x"] + inputs["y"], rtol=1e-6)
    # What a session keeps is the spec; a resumed session builds the same task from it.
    bench = Workbench(Toolbox(memory=tmp_path / "absent.sqlite"))
    spec = {"reference": f"{tmp_path}/mine.py:scaled_sum", "shapes": "x=4x6,y=4x6"}
    bench.restore({"task_spec": spec})
    assert bench.task.outputs == task.outputs and bench.task.inputs == task.inputs
    with pytest.raises(ToolError, match=r"broken failed on the given shapes: RuntimeError"):
        task_from_reference(f"{tmp_path}/mine.py:broken", "x=4x6")
    with pytest.raises(ToolError, match="no file"):
        task_from_reference(f"{tmp_path}/absent.py:f", "x=4")
    with pytest.raises(ToolError, match="has no function 'nope'"):
        task_from_reference(f"{tmp_path}/mine.py:nope", "x=4")


class Recorder:
    """A `View` that keeps what the terminal would show."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, str, bool]] = []

    def reply_start(self) -> None:
        pass

    def reply_chunk(self, text: str) -> None:
        pass

    def reply_end(self, text: str) -> None:
        self.shown.append(("reply", text, True))

    def working(self, what: str) -> None:
        self.shown.append(("working", what, True))

    def result(self, action: str, result) -> None:
        self.shown.append((action, result.text, result.ok))


def script(tmp_path, *replies: str) -> str:
    path = tmp_path / "replies.jsonl"
    path.write_text("".join(json.dumps({"text": r}) + "\n" for r in replies))
    return f"scripted:{path}"


def agent(tmp_path, model: str = "builtin", configured: bool = True, **kw) -> ChatAgent:
    return ChatAgent(
        memory=tmp_path / "mem" / "memory.sqlite",
        model_spec=model,
        configured=configured,
        view=Recorder(),
        **kw,
    )


def test_free_text_without_a_model_gets_one_sentence_and_slash_commands_work(tmp_path):
    chat = agent(tmp_path, configured=False)
    chat.say("write me a gemm")
    chat.command("task", "step/gemm")
    chat.command("show", "bufferize")
    chat.command("eval", "")  # no program yet: a one-line answer, not a crash
    shown = chat.view.shown
    assert shown[0] == ("model", UNCONFIGURED, False) and "\n" not in UNCONFIGURED
    assert shown[1][0] == "task" and "step/gemm" in shown[1][1]
    assert shown[2][1].startswith("**`bufferize(x, rank)`**")
    assert shown[3] == ("eval", shown[3][1], False) and "no program yet" in shown[3][1]
    chat.close()


def test_a_turn_loops_through_the_tools_and_the_session_resumes(tmp_path):
    model = script(tmp_path, "Let me look.\n/show map\n", "map applies fn per element.")
    chat = agent(tmp_path, model)
    chat.command("task", "step/gemm")
    chat.command("open", str(_write(tmp_path / "p.py", "x = 1\n")))
    chat.say("what does map do?")
    roles = [m["role"] for m in chat.messages]
    assert roles[-4:] == ["user", "assistant", "user", "assistant"]
    assert chat.messages[-2]["content"].startswith("Tool results:\n/show: **`map(")
    session = chat.session_id
    chat.close()

    again = agent(tmp_path, "builtin", session_id=session)
    assert again.resumed and again.bench.program == "x = 1\n"
    assert again.bench.task.key == "step/gemm"
    assert [m["content"] for m in again.messages] == [m["content"] for m in chat.messages]
    (listed,) = list_sessions(tmp_path / "mem" / "memory.sqlite")
    assert listed["id"] == session and listed["task"] == "step/gemm"
    assert listed["title"] == "what does map do?"
    again.close()
    with pytest.raises(ToolError, match="no chat session 'nosuch'"):
        agent(tmp_path, session_id="nosuch")


def test_a_model_that_never_stops_calling_tools_is_stopped(tmp_path):
    chat = agent(tmp_path, script(tmp_path, *["/show map"] * (MAX_STEPS + 3)))
    chat.command("task", "step/gemm")
    chat.say("loop")
    shows = [s for s in chat.view.shown if s[0] == "show"]
    assert len(shows) == MAX_STEPS
    chat.close()


def test_edits_undo_and_diff_on_the_workbench(tmp_path):
    chat = agent(tmp_path, configured=False)
    chat.command("open", str(_write(tmp_path / "p.py", PROGRAM)))
    bench = chat.bench
    bench.edit("@@ -1 +1 @@\n-a = 1\n+a = 10\n", "model")
    assert bench.program.startswith("a = 10\n") and bench.author == "model"
    assert "-a = 1\n+a = 10" in bench.diff().diff
    chat.command("edit_nothing", "")
    assert chat.view.shown[-1][1] == "unknown command /edit_nothing (/help lists them)"
    with pytest.raises(ToolError, match="the diff does not apply: hunk 1"):
        bench.edit("@@ -1 +1 @@\n-zzz\n+a\n", "model")
    bench.undo()
    assert bench.program == PROGRAM
    with pytest.raises(ToolError, match="nothing to undo"):
        bench.undo()
    chat.close()


@pytest.fixture
def ctrl_c():
    """Ctrl-C (SIGINT to the main thread) raises KeyboardInterrupt here, as in a terminal,
    even when pytest was started with SIGINT ignored (by a shell, as a background command)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    main = threading.get_ident()
    yield lambda after: threading.Timer(after, signal.pthread_kill, (main, signal.SIGINT)).start()
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_cancels_a_running_call_and_the_thread_goes_on(ctrl_c):
    finished = threading.Event()

    def slow() -> int:
        time.sleep(0.5)
        finished.set()
        return 1

    ctrl_c(after=0.1)
    started = time.monotonic()
    with pytest.raises(Cancelled):
        cancellable(slow)
    assert time.monotonic() - started < 0.4  # back at once, not after the call
    assert cancellable(lambda: os.getpid()) == os.getpid()  # the next call works
    with pytest.raises(ZeroDivisionError):  # a call's own error reaches the caller
        cancellable(lambda: 1 / 0)
    assert finished.wait(2)


class SlowToolbox:
    """A check and a tuning that take a while, the tuning with better values to offer."""

    def evaluate(self, task, program, detail):
        time.sleep(0.5)
        return SimpleNamespace(
            status="passed", cycles=1, floor_cycles=None, feedback="", bottleneck=""
        )

    def tune(self, task, program):
        time.sleep(0.5)
        return SimpleNamespace(
            program=program.replace("a = 1", "a = 7"),
            evaluations=2,
            start_params={"a": 1},
            start_cycles=2,
            best_params={"a": 7},
            best_cycles=1,
            speedup=2.0,
        )


@pytest.mark.parametrize("tool", ["check", "tune"])
def test_a_cancelled_tool_changes_nothing_when_it_ends_in_the_background(ctrl_c, tool):
    bench = Workbench(SlowToolbox(), task_spec={"ref": "a/b"}, program=PROGRAM, _task="task")
    ctrl_c(after=0.1)
    with pytest.raises(Cancelled):
        getattr(bench, tool)("" if tool == "tune" else False, cancellable)
    for worker in threading.enumerate():
        if worker.name == "chat-tool":
            worker.join(2)  # the abandoned call has ended
    assert (bench.program, bench.history, bench.verdict) == (PROGRAM, [], None)


def _write(path, text):
    path.write_text(text)
    return path


def test_a_litellm_reply_streams_chunk_by_chunk(monkeypatch):
    from types import SimpleNamespace as NS

    from agents.chat import streaming
    from agents.models import litellm_backend
    from agents.models.litellm_backend import LiteLLMModel

    asked = {}

    def completion(**kwargs):
        asked.update(kwargs)
        for part in ("Here ", "it ", None, "is."):
            yield NS(choices=[NS(delta=NS(content=part))])
        yield NS(choices=[])  # the closing usage chunk has no choice

    fake = NS(
        completion=completion,
        stream_chunk_builder=lambda chunks, messages: NS(
            usage=NS(prompt_tokens=12, completion_tokens=4)
        ),
        completion_cost=lambda completion_response: 0.25,
    )
    monkeypatch.setattr(litellm_backend, "import_litellm", lambda: fake)
    seen: list[str] = []
    reply = streaming.complete(
        LiteLLMModel("openai/gpt-test"), [{"role": "user", "content": "hi"}], None, seen.append
    )
    assert seen == ["Here ", "it ", "is."] and reply.text == "Here it is."
    assert (reply.prompt_tokens, reply.completion_tokens, reply.cost_usd) == (12, 4, 0.25)
    assert asked["stream"] is True and asked["model"] == "openai/gpt-test"

    def failing(**kwargs):
        raise TimeoutError("provider took too long")

    monkeypatch.setattr(fake, "completion", failing)
    with pytest.raises(ModelError, match="openai/gpt-test: TimeoutError: provider took too long"):
        streaming.complete(LiteLLMModel("openai/gpt-test"), [], None, seen.append)


def test_recall_brings_similar_programs_and_how_one_was_made_faster(tmp_path):
    from benchmarks.task import load_task
    from memory.store import ExperienceStore

    path = tmp_path / "mem" / "memory.sqlite"
    store = ExperienceStore(path)
    gemm = load_task("step/gemm")
    for program, cycles in (("slow = 1\n", 2000), ("fast = 1\n", 1234)):
        store.record_attempt(
            task=gemm,
            program=program,
            model="scripted",
            prompt_hash="p",
            verdict={"status": "passed", "correct": True, "cycles": cycles},
        )
    store.close()
    chat = agent(tmp_path, configured=False)
    chat.command("task", "step/gemm")
    chat.command("recall", "")
    action, text, ok = chat.view.shown[-1]
    assert action == "recall" and ok
    assert text.startswith("step/gemm: 1234 cycles (by scripted")
    assert "How step/gemm was made faster: 2000 -> 1234 cycles" in text
    assert "-slow = 1\n+fast = 1" in text
    chat.command("recall", "zzzqqq nothing")
    assert chat.view.shown[-1][1].startswith("no verified program in memory")
    chat.close()


def test_a_pasted_program_becomes_the_current_one_without_a_model(tmp_path):
    chat = agent(tmp_path, configured=False)
    chat.say("here is mine:\n```python\nx = 1\n```\n")
    assert chat.bench.program == "x = 1\n" and chat.bench.author == "person"
    assert [s[0] for s in chat.view.shown] == ["write"]  # no "configure a model" sentence
    chat.say("```diff\n@@ -1 +1 @@\n-x = 1\n+x = 2\n```")
    assert chat.bench.program == "x = 2\n"
    chat.close()
