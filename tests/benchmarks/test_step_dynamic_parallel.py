"""The STeP paper's dynamic-parallelization experiment (benchmarks/step_paper/dynamic_parallel):
the paper's traces are there, the entries are computed as the paper does (geometric means of
per-batch speedups), and the three programs are exact on a real trace."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.step_paper import dynamic_parallel as dp


def test_every_paper_trace_is_shipped() -> None:
    for batch, classes in dp.PAPER_TRACES.items():
        for names in classes.values():
            for name in names:
                lengths = np.load(dp.TRACES / "azure_kv_lengths" / dp.trace_file(batch, name))
                assert lengths.shape == (batch,)


def test_busiest_region_by_hand() -> None:
    # KV tiles of 32 rows: 64 -> 2 tiles, 1 -> 1, 320 -> 10, 33 -> 2; regions 0..3 get
    # 2 + 10, 1, 0, 2 tiles: busiest 12 over a mean of 15 / 4
    lengths = np.array([64, 1, 320, 33])
    assert dp.busiest_region(lengths, np.array([0, 1, 0, 3])) == pytest.approx(12 / 3.75)


def test_entries_are_geometric_means_of_per_batch_speedups(monkeypatch) -> None:
    rows = [
        {"batch": 16, "spread": "low", "trace": "a", "interleaved": 120, "coarse": 300, "dynamic": 100},
        {"batch": 16, "spread": "low", "trace": "b", "interleaved": 90, "coarse": 200, "dynamic": 100},
        {"batch": 64, "spread": "high", "trace": "c", "interleaved": 150, "coarse": 140, "dynamic": 100},
    ]  # fmt: skip
    monkeypatch.setattr(dp, "measure", lambda batches, check: rows)
    found: dict = {}
    lines = dp.results(True, False, found)
    low = found["step_dynamic_parallelization_b16_low_vs_interleaved"]
    assert low["ours"] == round(math.sqrt(1.2 * 0.9), 3) and low["paper"] is None
    high = found["step_dynamic_parallelization_b64_high_vs_interleaved"]
    assert high["ours"] == 1.5 and high["paper"] == [1.47, 1.57]
    assert found["step_dynamic_parallelization_b16_vs_coarse"]["ours"] == round(math.sqrt(6), 3)
    assert found["step_dynamic_parallelization_b64_vs_coarse"]["paper"] == 1.43
    every = found["step_dynamic_parallelization_geomean_vs_interleaved"]
    assert every["ours"] == round((1.2 * 0.9 * 1.5) ** (1 / 3), 3) and every["paper"] == 1.36
    assert any("1.50x" in line for line in lines)


@pytest.mark.slow
def test_the_three_parallelizations_are_exact_and_dynamic_wins_on_a_skewed_batch() -> None:
    lengths = np.load(dp.TRACES / "azure_kv_lengths" / dp.trace_file(16, "0480_3799_3814"))
    inputs = dp.decode_inputs(lengths)
    cycles = {k: dp.cycles_of(fn, inputs, check=True) for k, fn in dp.KERNELS.items()}
    assert cycles["dynamic"] < cycles["interleaved"] < cycles["coarse"]
