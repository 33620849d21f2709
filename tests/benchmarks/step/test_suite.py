"""The STeP task suite: files load, cover the seed benchmark's groups, and the references and
generators (including the real traces) compute what the descriptions say."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmarks.task import load_suite

TASKS = {t.name: t for t in load_suite("step")}

GROUPS = {
    "gemm": ["gemm", "gemm_bias", "linear_transposed", "gemm_silu"],
    "batched matmul": ["bmm", "bmm_transposed", "bmm_shared_weight"],
    "attention": [
        "attention_scores",
        "attention",
        "attention_kv_tiled",
        "multi_head_attention",
        "attention_decode_azure",
        "attention_decode_azure_gqa",
    ],
    "norms": ["rmsnorm", "layernorm", "softmax", "add_rmsnorm"],
    "rotary embedding": ["rope", "rope_heads", "rope_qk", "rope_positions"],
    "MoE routing and indexing": [
        "moe_gate_softmax",
        "moe_expert_counts",
        "moe_dispatch_scatter",
        "moe_combine_gather",
        "moe_expert_token_sum",
    ],
    "expert FFN": ["swiglu", "swiglu_linear_layout", "expert_ffn_scaled"],
    "end-to-end MoE": [
        "moe_layer",
        "moe_layer_mixtral",
        "moe_layer_qwen",
        "moe_layer_shared_expert",
    ],
}
TRACE_TASKS = {
    "attention_decode_azure",
    "attention_decode_azure_gqa",
    "moe_expert_counts",
    "moe_dispatch_scatter",
    "moe_combine_gather",
    "moe_expert_token_sum",
    "moe_layer_mixtral",
    "moe_layer_qwen",
}


def inputs_of(name: str, seed: int = 0, which: int = 0) -> tuple[dict, dict]:
    task = TASKS[name]
    dims = task.full_dims((task.checks + task.heldout)[which])
    return task.make_inputs(dims, seed), dims


def reference(name: str, inputs: dict, dims: dict) -> dict:
    return TASKS[name].reference_outputs(inputs, dims)


# --- the suite as a whole -------------------------------------------------------------
def test_suite_has_every_group_of_the_seed_benchmark() -> None:
    grouped = [n for names in GROUPS.values() for n in names]
    assert sorted(grouped) == sorted(TASKS), "every task belongs to exactly one group"
    assert len(TASKS) >= 30
    assert all(len(names) >= 3 for names in GROUPS.values())


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_is_complete(name: str) -> None:
    task = TASKS[name]
    assert task.target == "step_default"
    assert task.baseline is not None and task.baseline_source()
    assert task.spec, "the builtin compiler needs a [spec] table"
    symbolic = [d for d, v in task.dims.items() if v is None]
    assert symbolic, "every task has a dimension the program must not hard-code"
    assert task.heldout, "held-out values the model never sees"
    assert all(h not in task.checks for h in task.heldout)
    if name in TRACE_TASKS:
        assert "stanford-ppl/step_artifact @ 42f9250" in task.description


# --- generators ---------------------------------------------------------------------------
def test_generators_are_seeded() -> None:
    for name in ("moe_layer_qwen", "attention_decode_azure", "rope", "moe_dispatch_scatter"):
        a, _ = inputs_of(name, seed=3)
        b, _ = inputs_of(name, seed=3)
        c, _ = inputs_of(name, seed=4)
        assert all(np.array_equal(a[k], b[k]) for k in a)
        assert any(not np.array_equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize(
    "model,name", [("mixtral", "moe_layer_mixtral"), ("qwen", "moe_layer_qwen")]
)
def test_routing_rows_come_from_the_real_trace(model: str, name: str) -> None:
    from benchmarks.step.generators import routing_trace

    table = {tuple(sorted(row)) for row in routing_trace(model).tolist()}
    inputs, dims = inputs_of(name, seed=1)
    idx = inputs["expert_idx"]
    assert idx.shape == (dims["B"], dims["TOPK"]) and idx.dtype == np.int64
    assert all(tuple(row) in table for row in idx.tolist()), "real rows, experts ascending"
    assert all(len(set(row)) == dims["TOPK"] for row in idx.tolist())
    np.testing.assert_allclose(inputs["expert_weight"].sum(axis=1), 1.0, rtol=1e-6)


def test_kv_lengths_are_a_scaled_azure_batch() -> None:
    from benchmarks.step.generators import KV_ROWS_PER_TRACE_TOKEN, kv_length_files

    for which in range(3):  # B = 16 (check), 64 and 80 (held out)
        inputs, dims = inputs_of("attention_decode_azure", seed=5, which=which)
        scaled = {
            tuple(np.clip(-(-np.load(f) // KV_ROWS_PER_TRACE_TOKEN), 1, dims["L"]))
            for f in kv_length_files(dims["B"])
        }
        assert tuple(inputs["kv_len"]) in scaled
        assert inputs["kv_len"].min() >= 1 and inputs["kv_len"].max() <= dims["L"]


def test_missing_trace_is_a_clear_error() -> None:
    from benchmarks.step.generators import TraceError, azure_kv_lengths

    with pytest.raises(TraceError, match="batch 17"):
        azure_kv_lengths(np.random.default_rng(0), {"B": 17, "L": 128})


# --- references against independent formulations -----------------------------------------
def test_moe_layer_matches_a_dense_mixture() -> None:
    inputs, dims = inputs_of("moe_layer_qwen", seed=2)
    x, idx, w = inputs["x"], inputs["expert_idx"], inputs["expert_weight"]
    dense = np.zeros_like(x, dtype=np.float64)
    for e in range(dims["E"]):  # every expert on every token, masked by the routing weight
        h = x.astype(np.float64)
        gate = h @ inputs["w_gate"][e]
        ffn = (gate / (1 + np.exp(-gate)) * (h @ inputs["w_up"][e])) @ inputs["w_down"][e]
        dense += (w * (idx == e)).sum(axis=1, keepdims=True) * ffn
    np.testing.assert_allclose(
        reference("moe_layer_qwen", inputs, dims)["y"], dense, rtol=1e-4, atol=1e-5
    )


def test_ragged_decode_matches_masked_sdpa() -> None:
    inputs, dims = inputs_of("attention_decode_azure_gqa", seed=0)
    q, k, v = (torch.from_numpy(inputs[n]) for n in ("q", "k_cache", "v_cache"))
    mask = torch.arange(dims["L"])[None, :] < torch.from_numpy(inputs["kv_len"])[:, None]
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None])
    got = reference("attention_decode_azure_gqa", inputs, dims)["out"]
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)


def test_dispatch_then_combine_is_the_identity() -> None:
    """Scatter rows to the expert-sorted layout, gather them back with weights summing to 1."""
    inputs, dims = inputs_of("moe_dispatch_scatter", seed=7)
    sorted_rows = reference("moe_dispatch_scatter", inputs, dims)["out"]
    weight = np.full(inputs["dest"].shape, 1.0 / dims["TOPK"], dtype=np.float32)
    back = reference(
        "moe_combine_gather",
        {"y_sorted": sorted_rows, "src": inputs["dest"], "weight": weight},
        dims,
    )["out"]
    np.testing.assert_allclose(back, inputs["x"], rtol=1e-6)
    # grouped by expert: the rows of expert e come before those of expert e + 1
    assert sorted(inputs["dest"].ravel().tolist()) == list(range(dims["T"]))


def test_counts_and_sums_agree_with_numpy() -> None:
    inputs, dims = inputs_of("moe_expert_counts", seed=1, which=1)
    counts = reference("moe_expert_counts", inputs, dims)["counts"]
    assert counts.sum() == dims["B"] * dims["TOPK"]
    assert (counts == np.bincount(inputs["expert_idx"].ravel(), minlength=dims["E"])).all()
    assert (counts == 0).any(), "the Qwen trace leaves experts empty: the hard case"
    inputs, dims = inputs_of("moe_expert_token_sum", seed=1)
    sums = reference("moe_expert_token_sum", inputs, dims)["sums"]
    onehot = np.zeros((dims["B"], dims["E"]))
    for row, experts in enumerate(inputs["expert_idx"]):
        onehot[row, experts] = 1
    np.testing.assert_allclose(sums, onehot.T @ inputs["x"], rtol=1e-5, atol=1e-5)


def test_rope_tables_rotate_pairs_by_position() -> None:
    inputs, dims = inputs_of("rope_positions", seed=0)
    half = dims["D"] // 2
    pos = inputs["pos"]
    freq = 10000.0 ** (-np.arange(half) * 2 / dims["D"])
    angle = pos[:, None] * freq[None, :]
    x = inputs["x"].astype(np.float64)
    z = (x[:, :half] + 1j * x[:, half:]) * np.exp(1j * angle)  # rotate-half = complex rotation
    got = reference("rope_positions", inputs, dims)["y"]
    np.testing.assert_allclose(got, np.concatenate([z.real, z.imag], axis=1), atol=2e-4)


def test_attention_scores_rows_sum_to_one() -> None:
    inputs, dims = inputs_of("attention_scores", seed=0)
    p = reference("attention_scores", inputs, dims)["p"]
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    s = inputs["q"].astype(np.float64) @ inputs["k"].T / math.sqrt(dims["D"])
    np.testing.assert_allclose(p, np.exp(s) / np.exp(s).sum(axis=1, keepdims=True), rtol=1e-4)
