"""PyTorch references of the new STeP tasks (the suite's own where the kind is the same)."""

from __future__ import annotations

import torch

from benchmarks.step.references import (  # noqa: F401  (named by the task files)
    attention_decode_ragged,
    moe_expert_token_sum,
    moe_layer,
)


def softmax_cols(x: torch.Tensor, **dims: int) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


def gate_argmax(logits: torch.Tensor, **dims: int) -> torch.Tensor:
    """Top-1 expert per token (the lowest index among equal logits), as an int64 column."""
    return torch.argmax(logits, dim=-1, keepdim=True)
