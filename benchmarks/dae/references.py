"""PyTorch references of the DAE suite (trusted side; called with inputs and dims, on one
torch thread: `benchmarks.task.Task.reference_outputs`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def embedding_bag_sum(offsets, indices, table, **_):
    return F.embedding_bag(indices, table, offsets, mode="sum", include_last_offset=True)


def embedding_bag_mean(offsets, indices, table, **_):
    return F.embedding_bag(indices, table, offsets, mode="mean", include_last_offset=True)


def embedding_bag_max(offsets, indices, table, **_):
    return F.embedding_bag(indices, table, offsets, mode="max", include_last_offset=True)


def embedding_bag_weighted(offsets, indices, table, weights, **_):
    return F.embedding_bag(
        indices, table, offsets, mode="sum", include_last_offset=True, per_sample_weights=weights
    )


def spmm_csr(rowptr, colidx, values, x, R, N, **_):
    a = torch.sparse_csr_tensor(rowptr, colidx, values, size=(R, N))
    return torch.sparse.mm(a, x)


def _segments(offsets):
    return torch.repeat_interleave(torch.arange(len(offsets) - 1), offsets.diff())


def message_passing_mean(offsets, indices, features, V, **_):
    """GraphSAGE-style mean of in-neighbour features (isolated nodes get zeros)."""
    out = torch.zeros(V, features.shape[1], dtype=features.dtype)
    out.index_add_(0, _segments(offsets), features[indices])
    return out / offsets.diff().clamp(min=1).to(features.dtype)[:, None]


def message_passing_max(offsets, indices, features, V, **_):
    """Max of in-neighbour features (every node has a neighbour in this task)."""
    out = torch.zeros(V, features.shape[1], dtype=features.dtype)
    rows = _segments(offsets)[:, None].expand(-1, features.shape[1])
    return out.scatter_reduce(0, rows, features[indices], reduce="amax", include_self=False)


def kg_transe(heads, relations, tails, entities, relation_table, **_):
    """TransE translation vectors h + r - t of a batch of triples."""
    return (
        torch.index_select(entities, 0, heads)
        + torch.index_select(relation_table, 0, relations)
        - torch.index_select(entities, 0, tails)
    )


def paged_kv_gather(block_offsets, block_ids, kv_cache, **_):
    """The KV rows of every sequence, block after block (a paged-attention gather)."""
    return kv_cache[block_ids].reshape(-1, kv_cache.shape[-1])


def moe_gather(expert_offsets, token_ids, x, **_):
    """Token rows grouped by expert (the dispatch gather of an MoE layer)."""
    return torch.index_select(x, 0, token_ids)


def embedding_bag_padded(offsets, indices, table, **_):
    """Sum bags where index 0 is padding (adds nothing)."""
    return F.embedding_bag(
        indices, table, offsets, mode="sum", include_last_offset=True, padding_idx=0
    )


def message_passing_min(offsets, indices, features, V, **_):
    """Min of in-neighbour features (every node has a neighbour in this task)."""
    out = torch.zeros(V, features.shape[1], dtype=features.dtype)
    rows = _segments(offsets)[:, None].expand(-1, features.shape[1])
    return out.scatter_reduce(0, rows, features[indices], reduce="amin", include_self=False)


def embedding_bag_multi_table(**named):
    """Table-batched sum bags (FBGEMM TBE): table t's bags fill out[:, t*D:(t+1)*D]."""
    tables = sorted(k for k in named if k.startswith("table_"))
    return torch.cat(
        [
            embedding_bag_sum(named[f"offsets_{t[6:]}"], named[f"indices_{t[6:]}"], named[t])
            for t in tables
        ],
        dim=1,
    )
