"""PyTorch references of the STeP suite (trusted side only: never shown to a program).

Each function takes the task's inputs as tensors by name plus every dimension as an int
keyword (`benchmarks.task.Task.reference_outputs`) and returns the output tensor, or a dict
of them when a task has several outputs. They are written the way a PyTorch user would
write the layer, so a reader can check them at a glance.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

EPS = 1e-5
"""Epsilon of every normalisation task (their descriptions state it)."""


# --- gemm ------------------------------------------------------------------------------
def gemm(a: torch.Tensor, b: torch.Tensor, **dims: int) -> torch.Tensor:
    return a @ b


def gemm_bias(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor, **dims: int) -> torch.Tensor:
    return x @ w + bias


def linear_transposed(x: torch.Tensor, w: torch.Tensor, **dims: int) -> torch.Tensor:
    return F.linear(x, w)


def gemm_silu(x: torch.Tensor, w: torch.Tensor, **dims: int) -> torch.Tensor:
    return F.silu(x @ w)


# --- batched matmul --------------------------------------------------------------------
def bmm(a: torch.Tensor, b: torch.Tensor, **dims: int) -> torch.Tensor:
    return torch.bmm(a, b)


def bmm_transposed(a: torch.Tensor, b: torch.Tensor, **dims: int) -> torch.Tensor:
    return torch.bmm(a, b.transpose(1, 2))


def bmm_shared_weight(a: torch.Tensor, w: torch.Tensor, **dims: int) -> torch.Tensor:
    return a @ w


# --- attention -------------------------------------------------------------------------
def attention_scores(q: torch.Tensor, k: torch.Tensor, **dims: int) -> torch.Tensor:
    return torch.softmax(q @ k.T / math.sqrt(q.shape[-1]), dim=-1)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **dims: int) -> torch.Tensor:
    return F.scaled_dot_product_attention(q[None], k[None], v[None])[0]


def multi_head_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **dims: int
) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v)


def attention_decode_ragged(
    q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, kv_len: torch.Tensor, **dims: int
) -> torch.Tensor:
    """One decode step per request: request b attends to the first kv_len[b] cache rows.

    `q` is [B, R, D] (R query heads share one KV head, as in grouped-query attention);
    the caches are [B, L, D] with rows past kv_len[b] holding garbage.
    """
    out = torch.empty_like(q)
    for b in range(q.shape[0]):
        n = int(kv_len[b])
        keys, values = k_cache[b, :n], v_cache[b, :n]
        out[b] = torch.softmax(q[b] @ keys.T / math.sqrt(q.shape[-1]), dim=-1) @ values
    return out


# --- norms -----------------------------------------------------------------------------
def rmsnorm(x: torch.Tensor, g: torch.Tensor, **dims: int) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * g


def layernorm(x: torch.Tensor, g: torch.Tensor, b: torch.Tensor, **dims: int) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), g, b, eps=EPS)


def softmax(x: torch.Tensor, **dims: int) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


def add_rmsnorm(
    x: torch.Tensor, residual: torch.Tensor, g: torch.Tensor, **dims: int
) -> dict[str, torch.Tensor]:
    h = x + residual
    return {"y": rmsnorm(h, g), "h": h}


# --- rotary embedding ------------------------------------------------------------------
def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, **dims: int) -> torch.Tensor:
    return x * cos + _rotate_half(x) * sin


def rope_qk(
    q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, **dims: int
) -> dict[str, torch.Tensor]:
    return {"q_out": rope(q, cos, sin), "k_out": rope(k, cos, sin)}


def rope_positions(
    x: torch.Tensor,
    pos: torch.Tensor,
    cos_table: torch.Tensor,
    sin_table: torch.Tensor,
    **dims: int,
) -> torch.Tensor:
    return rope(x, cos_table[pos], sin_table[pos])


# --- MoE routing and indexing ----------------------------------------------------------
def moe_gate_softmax(x: torch.Tensor, w_gate: torch.Tensor, **dims: int) -> torch.Tensor:
    return torch.softmax(x @ w_gate, dim=-1)


def moe_expert_counts(expert_idx: torch.Tensor, **dims: int) -> torch.Tensor:
    return torch.bincount(expert_idx.flatten(), minlength=dims["E"])


def moe_dispatch_scatter(x: torch.Tensor, dest: torch.Tensor, **dims: int) -> torch.Tensor:
    out = torch.zeros(dest.numel(), x.shape[1], dtype=x.dtype)
    for slot in range(dest.shape[1]):
        out[dest[:, slot]] = x
    return out


def moe_combine_gather(
    y_sorted: torch.Tensor, src: torch.Tensor, weight: torch.Tensor, **dims: int
) -> torch.Tensor:
    return (y_sorted[src] * weight[..., None]).sum(dim=1)


def moe_expert_token_sum(x: torch.Tensor, expert_idx: torch.Tensor, **dims: int) -> torch.Tensor:
    out = torch.zeros(dims["E"], x.shape[1], dtype=x.dtype)
    for slot in range(expert_idx.shape[1]):
        out.index_add_(0, expert_idx[:, slot], x)
    return out


# --- expert FFN and whole MoE layers ---------------------------------------------------
def swiglu(
    x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor, **dims: int
) -> torch.Tensor:
    return (F.silu(x @ w_gate) * (x @ w_up)) @ w_down


def swiglu_linear_layout(
    x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor, **dims: int
) -> torch.Tensor:
    return F.linear(F.silu(F.linear(x, w_gate)) * F.linear(x, w_up), w_down)


def expert_ffn_scaled(
    x: torch.Tensor,
    weight: torch.Tensor,
    w_gate: torch.Tensor,
    w_up: torch.Tensor,
    w_down: torch.Tensor,
    **dims: int,
) -> torch.Tensor:
    return swiglu(x, w_gate, w_up, w_down) * weight[:, None]


def moe_layer(
    x: torch.Tensor,
    expert_idx: torch.Tensor,
    expert_weight: torch.Tensor,
    w_gate: torch.Tensor,
    w_up: torch.Tensor,
    w_down: torch.Tensor,
    **dims: int,
) -> torch.Tensor:
    """Sparse MoE with SwiGLU experts: y[t] = sum_j weight[t, j] * FFN_{idx[t, j]}(x[t])."""
    y = torch.zeros_like(x)
    for e in range(w_gate.shape[0]):
        token, slot = torch.nonzero(expert_idx == e, as_tuple=True)
        if token.numel():
            out = swiglu(x[token], w_gate[e], w_up[e], w_down[e])
            y.index_add_(0, token, out * expert_weight[token, slot][:, None])
    return y


def moe_layer_shared_expert(
    x: torch.Tensor,
    expert_idx: torch.Tensor,
    expert_weight: torch.Tensor,
    w_gate: torch.Tensor,
    w_up: torch.Tensor,
    w_down: torch.Tensor,
    shared_gate: torch.Tensor,
    shared_up: torch.Tensor,
    shared_down: torch.Tensor,
    **dims: int,
) -> torch.Tensor:
    routed = moe_layer(x, expert_idx, expert_weight, w_gate, w_up, w_down)
    return routed + swiglu(x, shared_gate, shared_up, shared_down)
