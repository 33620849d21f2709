"""The MoE programs of benchmarks/perf/step_paper_results.py on a small routed layer: static
tiles padded to their height (reshape(pad=True), padding rows dropped by partition + sink)
and dynamic tiles, one region per expert and time-multiplexed, against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.perf import step_paper_results as paper
from benchmarks.step import references

E, TOPK, B, H, F = 4, 2, 11, 16, 32


def _inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    idx = np.sort(np.stack([rng.choice(E, TOPK, replace=False) for _ in range(B)]), axis=1)
    w = rng.random((B, TOPK)).astype(np.float32)
    return {
        "x": rng.normal(size=(B, H)).astype(np.float32),
        "expert_idx": idx.astype(np.int64),
        "expert_weight": w / w.sum(axis=1, keepdims=True),
        "w_gate": rng.normal(0, H**-0.5, size=(E, H, F)).astype(np.float32),
        "w_up": rng.normal(0, H**-0.5, size=(E, H, F)).astype(np.float32),
        "w_down": rng.normal(0, F**-0.5, size=(E, F, H)).astype(np.float32),
    }


@pytest.mark.parametrize("kernel", [paper.moe_spatial, paper.moe_time_multiplexed])
def test_padded_static_and_dynamic_tiling_match_torch(kernel) -> None:
    inputs = _inputs()
    want = {"y": paper.reference(references.moe_layer, inputs)}
    out = {"y": ((B, H), "float32")}
    reports = {}
    for tile_n in (4, 0):
        params = {"tile_f": 16, "tile_n": tile_n, "compute": 1}
        reports[tile_n], _ = paper.run(kernel, inputs, out, params, want)  # checks outputs
    counts = np.bincount(inputs["expert_idx"].ravel(), minlength=E)
    padded_rows = int((-counts % 4).sum())
    assert padded_rows > 0  # 22 routed rows over 4 experts: some last tiles are short
    # every padded row is a full SwiGLU: 3 matmuls of [1, H] x [H, F] (or [1, F] x [F, H])
    extra = reports[4].metrics["flops"] - reports[0].metrics["flops"]
    assert extra >= padded_rows * 3 * 2 * H * F
    # every expert gets tokens here, so both tilings hold the same weight blocks
    assert (
        reports[4].metrics["weight_onchip_bytes"] == reports[0].metrics["weight_onchip_bytes"] > 0
    )
