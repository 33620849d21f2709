from __future__ import annotations

import sys
import types

import pytest

from agents.models import ModelError, get_model
from agents.prompts import ReplyError, extract_program
from dsl.errors import NotCovered
from tests.memory.task_factory import make_task

PROGRAM = "from dsl import step\n\n\ndef kernel(x, **params):\n    return x\n"


@pytest.fixture
def fake_compiler(monkeypatch):
    """Stand in for dsl.step.compiler so these tests pin the backend, not the compiler."""
    module = types.ModuleType("dsl.step.compiler")
    monkeypatch.setitem(sys.modules, "dsl.step.compiler", module)
    return module


def test_replies_with_the_compiled_program_in_a_fence(fake_compiler):
    seen = []
    fake_compiler.compile_task = lambda task: seen.append(task) or PROGRAM
    task = make_task()
    reply = get_model("builtin").complete([{"role": "user", "content": "anything"}], task=task)
    assert seen == [task]
    assert reply.text.startswith("```python\n") and reply.text.rstrip().endswith("```")
    assert reply.model == "builtin" and reply.cost_usd == 0.0 and reply.tokens == 0
    assert extract_program(reply.text, "step") == PROGRAM


def test_uncovered_task_gives_a_reply_without_code(fake_compiler):
    def refuse(task):
        raise NotCovered("no lowering for op 'fft'")

    fake_compiler.compile_task = refuse
    reply = get_model("builtin").complete([], task=make_task("fft_rows"))
    assert "does not cover fft_rows: no lowering for op 'fft'" in reply.text
    assert (
        reply.refusal
        == "the builtin step compiler does not cover fft_rows: no lowering for op 'fft'"
    )
    with pytest.raises(ReplyError, match="no code"):
        extract_program(reply.text, "step")


def test_a_long_refusal_reason_is_kept_whole(fake_compiler):
    why = "spec key 'padding_mode' is not one the compiler knows; " * 6 + "end of reason"

    def refuse(task):
        raise NotCovered(why + "\n(second line)")

    fake_compiler.compile_task = refuse
    reply = get_model("builtin").complete([], task=make_task("long_refusal"))
    assert reply.refusal is not None and reply.refusal.endswith("end of reason (second line)")
    assert len(reply.refusal) > 300 and "\n" not in reply.refusal


def test_a_compiled_program_is_no_refusal(fake_compiler):
    fake_compiler.compile_task = lambda task: PROGRAM
    assert get_model("builtin").complete([], task=make_task()).refusal is None


def test_compiler_crash_is_a_model_error(fake_compiler):
    def crash(task):
        raise KeyError("tile")

    fake_compiler.compile_task = crash
    with pytest.raises(ModelError, match="builtin step compiler failed on softmax_rows: KeyError"):
        get_model("builtin").complete([], task=make_task())


def test_non_text_result_is_a_model_error(fake_compiler):
    fake_compiler.compile_task = lambda task: {"ir": 1}
    with pytest.raises(ModelError, match="returned dict, not text"):
        get_model("builtin").complete([], task=make_task())


def test_needs_the_task():
    with pytest.raises(ModelError, match="needs the task"):
        get_model("builtin").complete([{"role": "user", "content": "hi"}])


def test_missing_compiler_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "dsl.step.compiler", None)  # import raises ImportError
    with pytest.raises(ModelError, match="no compiler for dialect 'step'"):
        get_model("builtin").complete([], task=make_task())


def _suite_tasks():
    from pathlib import Path

    from benchmarks.task import TaskError, parse_task

    root = Path(__file__).resolve().parents[3] / "benchmarks"
    tasks = []
    for path in sorted(root.glob("*/*.toml")):
        try:
            tasks.append(parse_task(path))
        except TaskError:  # a suite still being written; its own tests report it
            continue
    return tasks


def test_builtin_answers_every_suite_task_like_a_model():
    """On the real suites, the builtin reply is a program in the task's dialect that the
    reply parser accepts, or (task not covered) a reply without code that says why."""
    tasks = _suite_tasks()
    assert tasks, "no suite task could be loaded"
    model = get_model("builtin")
    covered = 0
    for task in tasks:
        reply = model.complete([], task=task)
        try:
            program = extract_program(reply.text, task.dialect)
        except ReplyError as exc:
            assert "no code" in str(exc), (task.key, str(exc))
            assert f"does not cover {task.name}:" in reply.text, task.key
            assert reply.refusal and reply.refusal in reply.text, task.key
            continue
        covered += 1
        assert f"from dsl import {task.dialect}" in program, task.key
    assert covered > 0


def test_program_with_backticks_inside_survives_the_fence(fake_compiler):
    program = 'from dsl import step\n\n\ndef kernel(x):\n    """Like:\n```\nstep.map(x)\n```\n"""\n    return x\n'
    fake_compiler.compile_task = lambda task: program
    reply = get_model("builtin").complete([], task=make_task())
    assert reply.text.startswith("````python\n")
    assert extract_program(reply.text, "step") == program
