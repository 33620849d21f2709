"""Through the real solve workflow, memory teaches its best: a proposal prompt shows the
best program of a similar task with its speedup, and an optimise prompt shows the most
relevant improvement pair (the store is seeded; the model is scripted; programs are
verified for real)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents.models import CostMeter
from agents.workflows.run import RunOptions, prepare, run_suite
from agents.workflows.solve import SolveSettings
from agents.workflows.verify_pool import VerifierPool
from memory import ExperienceStore
from tests.agents.improve_models import GEMM_TASKS, baseline, faster
from tests.agents.workflows.conftest import fenced, scripted

pytestmark = pytest.mark.slow

GEMM, GEMM_BIAS = GEMM_TASKS[0], GEMM_TASKS[1]


@pytest.fixture(scope="module")
def pool() -> Iterator[VerifierPool]:
    with VerifierPool(1, timing_seed=7) as pool:
        yield pool


def test_prompts_show_the_best_with_its_speedup_and_the_pair(tmp_path, pool):
    store = ExperienceStore(tmp_path / "m.sqlite")
    slow = store.record_attempt(
        task=GEMM_BIAS,
        program=baseline(GEMM_BIAS),
        model="m",
        prompt_hash="h",
        verdict={"status": "passed", "cycles": 774, "bottleneck": "hbm: load w"},
    )
    store.record_attempt(
        task=GEMM_BIAS,
        program=faster(baseline(GEMM_BIAS)),
        model="m",
        prompt_hash="h",
        verdict={"status": "passed", "cycles": 300, "bottleneck": "compute: map"},
        parent_id=slow,
    )
    store.record_baseline(GEMM_BIAS, 774)
    model = scripted(
        tmp_path,
        [
            {"match": "Write the program for this task", "text": fenced(baseline(GEMM))},
            {"match": "What the cycle simulator reports", "text": fenced(faster(baseline(GEMM)))},
        ],
    )
    options = RunOptions(
        out=tmp_path / "run",
        settings=SolveSettings(samples=1, repair_rounds=0, optimise_rounds=1),
    )
    run = prepare(options.out, [GEMM], suite="step", model_spec=model.name, options=options)
    meter = CostMeter()
    results = run_suite(
        [GEMM],
        model=meter.wrap(model),
        store=store,
        meter=meter,
        pool=pool,
        run=run,
        options=options,
    )
    assert results["summary"]["solved"] == 1
    propose, optimise = (m[-1]["content"] for m in model.prompts)
    # The example is gemm_bias's best (300 cycles), not the first that passed (774).
    assert "### step/gemm_bias, 300 cycles, 2.58x faster than its baseline (774 cycles)" in propose
    assert "made faster" not in propose
    pair = optimise[optimise.index("## How a similar program was made faster (step/gemm_bias)") :]
    assert "### Before, 774 cycles, as fast as its baseline (774 cycles)" in pair
    assert "simulator: bottleneck hbm: load w" in pair
    assert "### After, 300 cycles" in pair and "compute=4" in pair
