"""`agent improve` end to end with a model that learns from its prompt's examples: the pass
rate rises over rounds only when memory teaches (adaptive), not in the single-model mode.

Real task files (step/gemm, gemm_bias, gemm_silu), real sandbox, verifier and store; the
model is `ExampleLearner` (tests/agents/improve_models.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from agents.models import CostMeter
from agents.report.html import write_report
from agents.workflows import improve as im
from agents.workflows.solve import SolveSettings
from agents.workflows.verify_pool import VerifierPool
from memory import ExperienceStore
from tests.agents.improve_models import GEMM_TASKS, ExampleLearner, baseline

pytestmark = pytest.mark.slow

SETTINGS = SolveSettings(samples=1, repair_rounds=0, optimise_rounds=1)


@pytest.fixture(scope="module")
def pool() -> Iterator[VerifierPool]:
    with VerifierPool(1, timing_seed=12345) as pool:
        yield pool


def run(tmp_path, pool, tasks, *, mode: str, rounds: int):
    store = ExperienceStore(tmp_path / "memory.sqlite")
    model = ExampleLearner()
    meter = CostMeter()
    options = im.ImproveOptions(out=tmp_path / "out", rounds=rounds, mode=mode, settings=SETTINGS)
    record = im.start_or_resume(
        options.out, tasks, suites=["step"], model_spec=model.name, options=options
    )
    record = im.improve(
        tasks,
        model=meter.wrap(model),
        store=store,
        meter=meter,
        verifier=pool,
        record=record,
        options=options,
    )
    return record, store, model


def test_pass_rate_rises_as_memory_teaches(tmp_path, pool):
    record, store, model = run(tmp_path, pool, GEMM_TASKS, mode="adaptive", rounds=3)
    rounds = record["rounds"]
    assert [r["pass_rate"] for r in rounds] == [0.3333, 1.0, 1.0]
    assert [r["newly_solved"] for r in rounds] == [
        ["step/gemm"],
        ["step/gemm_bias", "step/gemm_silu"],
        [],
    ]
    assert [r["gained"] for r in rounds] == [True, True, False]
    assert record["stopped"] == "all 3 rounds done"
    # Round 1 had nothing to show; round 2 showed the one solved task's shortest program
    # (the baseline, not its faster but longer rewrite), and the learner used it.
    assert rounds[0]["examples"] == {}
    (shown,) = rounds[1]["examples"]["step"]
    gemm = GEMM_TASKS[0]
    assert store.get(shown).program == baseline(gemm)
    assert store.best(gemm.key).cycles < store.get(shown).cycles  # memory knows a faster one
    assert "step/gemm" not in rounds[1]["tasks"]  # 3x faster than its baseline: done
    proposals = [(key, seen) for key, mode, seen in model.prompts if mode == "propose"]
    assert proposals == [
        ("step/gemm", []),
        ("step/gemm_bias", []),
        ("step/gemm_silu", []),
        ("step/gemm_bias", ["step/gemm"]),
        ("step/gemm_silu", ["step/gemm"]),
    ]
    assert [r["new_experiences"] for r in rounds] == [2, 2, 0]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (results["summary"]["solved"], results["summary"]["rounds"]) == (3, 3)
    page = write_report(tmp_path / "out").read_text()
    assert "<h2>Rounds</h2>" in page and page.count("<svg") >= 3
    assert "<h1>agent improve: " in page and "agent solve:" not in page


def test_the_single_model_mode_does_not_learn(tmp_path, pool):
    record, _, model = run(tmp_path, pool, GEMM_TASKS[:2], mode="single", rounds=2)
    assert [r["pass_rate"] for r in record["rounds"]] == [0.5, 0.5]
    assert {r["temperature"] for r in record["rounds"]} == {1.0}
    assert all(not seen for _, _, seen in model.prompts)
