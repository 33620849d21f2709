"""The store takes the verifier's verdicts as they are (the contract between the two)."""

from __future__ import annotations

from pathlib import Path

import pytest

from interpreter.verifier import STATUSES, Verdict
from memory import ExperienceStore
from memory.store import STATUSES as STORE_STATUSES
from tests.memory.task_factory import make_task

ROOT = Path(__file__).resolve().parents[2]


def test_same_statuses():
    # plus a model's refusal (`not_covered`): an attempt without a program, never verified
    assert tuple(STORE_STATUSES) == (*STATUSES, "not_covered")


@pytest.mark.parametrize("as_json", [False, True])
def test_verdict_objects_and_their_json(tmp_path, as_json):
    store = ExperienceStore(tmp_path / "m.sqlite")
    good = Verdict(
        task="step/softmax_rows",
        status="passed",
        feedback="correct on 4 runs",
        cycles=701,
        floor_cycles=16.0,
        metrics={"offchip_bytes": 16384.0},
        bottleneck="map is the critical op",
        timeline=[("map", 0, 700)],
    )
    bad = Verdict(
        task="step/softmax_rows", status="incorrect", feedback="output y differs at [3, 0]"
    )
    for verdict in (good, bad):
        store.record_attempt(
            task=make_task(),
            program="from dsl import step\n",
            model="m",
            prompt_hash="h",
            verdict=verdict.to_json() if as_json else verdict,
        )
    first, second = store.attempts()
    assert (first.status, first.correct, first.cycles) == ("passed", True, 701)
    assert first.metrics == {"offchip_bytes": 16384.0, "floor_cycles": 16.0}
    assert first.bottleneck == "map is the critical op"
    assert (second.status, second.correct, second.cycles) == ("incorrect", False, None)
    assert second.feedback == "output y differs at [3, 0]"
    assert store.best("step/softmax_rows").id == first.id


@pytest.mark.slow
def test_a_builtin_program_verified_for_real_is_recalled_for_a_similar_task(tmp_path):
    """The whole road of one experience: builtin reply -> parser -> verifier -> store ->
    recall for another task -> the next prompt."""
    from agents.models import get_model
    from agents.prompts import Example, build_messages, extract_program
    from benchmarks.task import parse_task
    from interpreter.verifier import verify

    softmax = parse_task(ROOT / "benchmarks/step/softmax.toml")
    gate = parse_task(ROOT / "benchmarks/step/moe_gate_softmax.toml")
    program = extract_program(get_model("builtin").complete([], task=softmax).text, "step")
    verdict = verify(softmax, program)
    assert verdict.status == "passed", verdict.feedback
    store = ExperienceStore(tmp_path / "m.sqlite")
    store.record_attempt(
        task=softmax, program=program, model="builtin", prompt_hash="h", verdict=verdict
    )
    (example,) = store.recall(gate)
    assert example.program == program and example.cycles == verdict.cycles
    user = build_messages(gate, mode="propose", examples=[Example.of(example)])[1]["content"]
    assert f"### step/softmax, {verdict.cycles} cycles" in user and program.strip() in user
