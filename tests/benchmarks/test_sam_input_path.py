"""The sparse-input benchmark: both modes simulate the same graph to the same cycles, and
the sparse one never holds the dense matrix."""

from __future__ import annotations

import pytest

from benchmarks.perf.sam_input_path import run_mode


@pytest.mark.slow  # two simulations, each warming numba's cache
def test_dense_and_sparse_inputs_give_the_same_cycles_and_sparse_stays_small():
    dense, sparse = (run_mode(mode, 600, 0.002) for mode in ("dense", "sparse"))
    assert dense["cycles"] == sparse["cycles"] > 0 and dense["nnz"] == sparse["nnz"] == 720
    # the dense array alone is 600² float64 = 2.7 MB; the sparse run's peak stays below it
    assert sparse["peak_mb"] < 600 * 600 * 8 / 2**20 < dense["peak_mb"]
