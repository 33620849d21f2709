"""moe_dispatch_scatter baseline: every token row is read from off-chip once per slot
(stride 0 over the slot dim) and written to its destination row."""

from dsl import step


def kernel(x, dest):
    B, H = x.shape
    topk = dest.shape[1]
    rows = step.linear_offchip_load(x, (1, H.value), shape=(B, topk), stride=(1, 0))
    where = step.linear_offchip_load(dest, (1, 1))  # [B, topk] of [1, 1] row indices
    return step.random_offchip_store(rows, where, "out")
