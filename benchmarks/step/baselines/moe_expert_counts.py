"""moe_expert_counts baseline: a dense one-hot histogram (no routing).

Every (token, slot) id v becomes a one-hot row over the E experts, built from two prefix
masks of a row of ones (columns < v + 1 minus columns < v), and the rows are summed.
Work grows with tokens x experts whatever the routing.
"""

from dsl import step

E = 128


def kernel(expert_idx):
    B, topk = expert_idx.shape
    ids = step.linear_offchip_load(expert_idx, (1, 1))  # [B, topk] of int [1, 1]
    ids_next, ids_at, ref = step.copy(ids, 3)
    seed = step.linear_offchip_load(expert_idx, (1, 1), shape=(1,), stride=(0,))
    row = step.accum(step.flat_map(seed, step.fn.arange(count=E)), "retile_col", rank=1)
    ones = step.map(
        step.map(step.map(row, step.fn.cast(dtype="float32")), step.fn.scale(factor=0.0)),
        step.fn.add_scalar(value=1.0),
    )
    ones_a, ones_b = step.copy(step.expand(ones, ref))  # [B, topk] of [1, E]
    mask = step.fn.mask_after(fill=0.0)
    below_next = step.map([ones_a, step.map(ids_next, step.fn.affine_index(offset=1))], mask)
    below = step.map([ones_b, ids_at], mask)
    onehot = step.map([below_next, below], "sub")
    pairs = step.assume_shape(step.promote(step.flatten(onehot)), (1, B * topk))
    total = step.accum(pairs, "add", rank=1)  # [1] of [1, E]
    return step.linear_offchip_store(step.map(total, step.fn.cast(dtype="int64")), "counts")
