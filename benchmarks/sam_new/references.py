"""PyTorch references of the new SAM tasks: reductions over the stored entries of a sparse
row (an entry is stored when it is nonzero), 0 for a row with none."""

from __future__ import annotations

import torch


def _over_stored(values: torch.Tensor, stored: torch.Tensor, dim: int, op: str) -> torch.Tensor:
    fill = torch.inf if op == "min" else -torch.inf
    picked = torch.where(stored, values, torch.full_like(values, fill))
    out = picked.amin(dim) if op == "min" else picked.amax(dim)
    return torch.where(stored.any(dim), out, torch.zeros_like(out))


def segment_min(A, **_):
    """y(i) = min over the stored j of A(i,j)."""
    return _over_stored(A, A != 0, 1, "min")


def gnn_max_aggregate(A, X, **_):
    """y(i,f) = max over the stored j of A(i,j) * X(j,f): neighbour max aggregation."""
    products = A[:, :, None] * X[None, :, :]
    stored = (A != 0)[:, :, None].expand_as(products)
    return _over_stored(products, stored, 1, "max")
