from __future__ import annotations

import re

import pytest

from agents.prompts import Example, PromptError, build_messages, prompt_hash
from agents.prompts.builder import reference_path
from tests.memory.task_factory import make_task

PROGRAM = "from dsl import step\n\n\ndef kernel(x, tile=16):\n    return step.map(x, 'exp')\n"


def _user(messages) -> str:
    assert [m["role"] for m in messages] == ["system", "user"]
    return messages[1]["content"]


def test_propose_has_reference_task_and_signature():
    task = make_task(params={"tile": 16})
    messages = build_messages(task, mode="propose")
    system, user = messages[0]["content"], _user(messages)
    assert reference_path("step").read_text().strip() in system
    assert "from dsl import step" in system and "```python" in system
    assert "# Task: step/softmax_rows" in user
    assert task.description.strip() in user
    assert "x: float32[M, N]" in user and "y: float32[M, N]" in user
    assert "M: symbolic" in user and "N = 64" in user
    assert "kernel: def kernel(x, tile=16)  # produces y" in user
    assert 'structure:\n  fn = "softmax"' in user
    assert "Verified programs" not in user  # no examples given


def test_prompt_never_reveals_checks_reference_or_baseline():
    task = make_task()  # checks M=37, held-out M=1093
    for mode in ("propose", "guardian", "repair", "optimise"):
        text = "\n".join(
            m["content"]
            for m in build_messages(task, mode=mode, program=PROGRAM, feedback="status: incorrect")
        )
        assert not re.search(r"\b(37|1093)\b", text), mode
        assert "secret" not in text, mode  # reference function and baseline file names


def test_examples_are_rendered_in_the_order_given():
    examples = [
        Example("step/exp_rows", "from dsl import step\n# short\n", 120, "Elementwise exp.\nMore."),
        Example("step/softmax_cols", "from dsl import step\n# longer one\n", None),
    ]
    user = _user(build_messages(make_task(), mode="propose", examples=examples))
    assert "## Verified programs for similar tasks" in user
    first, second = (
        user.index("### step/exp_rows, 120 cycles"),
        user.index("### step/softmax_cols\n"),
    )
    assert first < second
    assert "Elementwise exp.\n```python\nfrom dsl import step\n# short\n```" in user
    assert "More." not in user  # only the description's first line


def test_oversized_examples_are_skipped_not_cut():
    huge = Example("step/huge", "from dsl import step\n" + "# pad\n" * 5000, 10)
    small = Example("step/small", "from dsl import step\n# small\n", 20)
    user = _user(build_messages(make_task(), mode="propose", examples=[huge, small]))
    assert "step/huge" not in user and "# small" in user


@pytest.mark.parametrize(
    ("dialect", "rule"),
    [
        ("step", "t1, t2 = step.copy(step.linear_offchip_load(x, (16, 128)))"),
        ("sam", "i, i_rep = sam.broadcast(i)"),
        ("dae", "popped exactly\n   once"),
    ],
)
def test_guardian_rule_and_example_are_the_dialects(dialect, rule):
    program = PROGRAM.replace("step", dialect)
    user = _user(build_messages(make_task(dialect=dialect), mode="guardian", program=program))
    assert program.strip() in user
    assert "\n1. " in user and "\n2. Types and shapes" in user
    assert rule in user
    others = {"step": "step.copy", "sam": "sam.broadcast", "dae": "dae.callback"}
    assert all(others[d] not in user for d in others if d != dialect)


def test_repair_renders_the_verdict():
    verdict = {
        "task": "step/softmax_rows",
        "status": "incorrect",
        "correct": False,
        "cycles": None,
        "feedback": "output y differs at [3, 0]: expected 0.25, got 0.5",
        "metrics": {"cycles": 1.0},
    }
    user = _user(build_messages(make_task(), mode="repair", program=PROGRAM, feedback=verdict))
    assert "status: incorrect\nfeedback: output y differs at [3, 0]: expected 0.25, got 0.5" in user
    assert "metrics:" not in user  # the simulator's numbers are for optimising
    assert PROGRAM.strip() in user


def test_optimise_renders_the_bottleneck_report():
    verdict = {
        "status": "passed",
        "cycles": 5120,
        "floor_cycles": 1024.0,
        "baseline_cycles": 4000,
        "bottleneck": "memory-bound: linear_offchip_load_0 streams 64 KB at 1024 B/cycle",
        "metrics": {"offchip_bytes": 65536, "utilization": 0.123456},
        "per_op": {"map_1": {"busy": 100.0}, "load_0": {"busy": 5000.0}, "store_2": {"busy": 50}},
    }
    user = _user(build_messages(make_task(), mode="optimise", program=PROGRAM, feedback=verdict))
    assert "cycles: 5120 (roofline floor 1024)\nbaseline to beat: 4000 cycles" in user
    assert "bottleneck: memory-bound: linear_offchip_load_0" in user
    # three significant digits: too coarse to carry the timed input's values out
    assert "metrics: offchip_bytes=65500, utilization=0.123" in user
    assert "load_0: busy=5000" in user
    busiest = user[user.index("busiest ops:") :]
    assert busiest.index("load_0") < busiest.index("map_1") < busiest.index("store_2")


def test_text_feedback_is_clipped():
    user = _user(build_messages(make_task(), mode="repair", program=PROGRAM, feedback="e" * 50_000))
    assert "more characters cut" in user and len(user) < 20_000


def test_program_text_is_not_templated():
    program = "from dsl import step\n# costs $5 and ${x} and $$\ndef kernel(x):\n    return x\n"
    user = _user(build_messages(make_task(), mode="guardian", program=program))
    assert "# costs $5 and ${x} and $$" in user


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"mode": "evolve"}, "unknown prompt mode 'evolve'"),
        ({"mode": "guardian"}, "guardian needs the program"),
        ({"mode": "optimise", "program": "  "}, "optimise needs the program"),
        ({"mode": "repair", "program": PROGRAM}, "repair needs the verifier's feedback"),
    ],
)
def test_bad_arguments(kwargs, reason):
    with pytest.raises(PromptError, match=reason):
        build_messages(make_task(), **kwargs)


def test_missing_reference_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(
        "agents.prompts.builder.reference_path", lambda d: tmp_path / d / "REFERENCE.md"
    )
    with pytest.raises(PromptError, match=r"dialect 'step' has no reference at .*REFERENCE\.md"):
        build_messages(make_task(), mode="propose")


def test_prompt_hash():
    a = build_messages(make_task(), mode="propose")
    b = build_messages(make_task(), mode="propose")
    c = build_messages(make_task("other"), mode="propose")
    assert prompt_hash(a) == prompt_hash(b)
    assert re.fullmatch(r"[0-9a-f]{16}", prompt_hash(a))
    assert prompt_hash(a) != prompt_hash(c)
    assert prompt_hash(a) != prompt_hash(a[::-1])


def test_example_of_a_stored_attempt(tmp_path):
    from memory import ExperienceStore

    store = ExperienceStore(tmp_path / "m.sqlite")
    task = make_task(
        "exp_rows", description="Elementwise exp.\nSecond line.", spec={"fn": "softmax"}
    )
    store.record_attempt(
        task=task,
        program=PROGRAM,
        model="m",
        prompt_hash="h",
        verdict={"status": "passed", "cycles": 77},
    )
    (attempt,) = store.recall(make_task())
    example = Example.of(attempt)
    assert example == Example("step/exp_rows", PROGRAM, 77, "Elementwise exp.\nSecond line.")
    user = _user(build_messages(make_task(), mode="propose", examples=[example]))
    assert "### step/exp_rows, 77 cycles\nElementwise exp.\n```python\n" + PROGRAM in user


@pytest.mark.parametrize("dialect", ["step", "sam", "dae"])
def test_every_dialect_reference_reaches_the_prompt(dialect):
    messages = build_messages(make_task(dialect=dialect), mode="propose")
    reference = reference_path(dialect).read_text().strip()
    assert len(reference) > 1000  # a real reference, not a placeholder
    assert reference in messages[0]["content"]
    assert f"`from dsl import {dialect}`" in messages[0]["content"]


def test_each_mode_has_its_own_marker():
    from agents.prompts import MODE_MARKERS

    feedback = {"status": "incorrect", "feedback": "differs"}
    users = {
        mode: _user(build_messages(make_task(), mode=mode, program=PROGRAM, feedback=feedback))
        for mode in MODE_MARKERS
    }
    for mode, marker in MODE_MARKERS.items():
        assert [m for m in users if marker in users[m]] == [mode]


def test_lines_named_by_the_feedback_are_quoted():
    program = "from dsl import step\n\ndef kernel(x):\n    y = step.map(x, 'exp')\n    return y\n"
    verdict = {"status": "invalid", "feedback": "line 4: map: unknown fn; see line 4 and line 99"}
    user = _user(build_messages(make_task(), mode="repair", program=program, feedback=verdict))
    assert user.count("line 4 of your program: y = step.map(x, 'exp')") == 1
    assert "line 99 of your program" not in user  # no such line
    text_feedback = "program.py: stream never consumed: output 0 of map (node 6, line 5)"
    user = _user(
        build_messages(make_task(), mode="repair", program=program, feedback=text_feedback)
    )
    assert "line 5 of your program: return y" in user


def test_the_bottleneck_sentence_is_given_once():
    sentence = (
        "Critical path: 80% of 5120 cycles wait for HBM bandwidth, most in linear_offchip_load"
        " (node 0, line 3); larger tiles cut re-reads."
    )
    verdict = {
        "status": "passed",
        "cycles": 5120,
        # the verdict's feedback quotes the sentence, cut short by the store
        "feedback": f"correct on 4 runs; 5120 cycles. {sentence[:70]}",
        "bottleneck": sentence,
    }
    user = _user(build_messages(make_task(), mode="optimise", program=PROGRAM, feedback=verdict))
    assert "feedback: correct on 4 runs; 5120 cycles.\n" in user
    assert user.count("Critical path: 80%") == 1
    assert f"bottleneck: {sentence}" in user
