"""moe_expert_counts expert: counts[e] = #(ids < e + 1) - #(ids < e), so only two prefix
masks are summed over the (token, slot) pairs and subtracted once at the end."""

from dsl import step

E = 128


def kernel(expert_idx):
    B, topk = expert_idx.shape
    ids = step.promote(step.flatten(step.linear_offchip_load(expert_idx, (1, 1))))
    ids_next, ids_at, ref = step.copy(step.assume_shape(ids, (1, B * topk)), 3)  # [1, B*topk]
    seed = step.linear_offchip_load(expert_idx, (1, 1), shape=(1,), stride=(0,))
    row = step.accum(step.flat_map(seed, step.fn.arange(count=E)), "retile_col", rank=1)
    ones = step.map(
        step.map(step.map(row, step.fn.cast(dtype="float32")), step.fn.scale(factor=0.0)),
        step.fn.add_scalar(value=1.0),
    )
    ones_a, ones_b = step.copy(step.expand(ones, ref))
    mask = step.fn.mask_after(fill=0.0)
    below_next = step.map([ones_a, step.map(ids_next, step.fn.affine_index(offset=1))], mask)
    below = step.map([ones_b, ids_at], mask)
    upto = step.accum(below_next, "add", rank=1, compute=2)  # [1] of [1, E]
    under = step.accum(below, "add", rank=1, compute=2)
    counts = step.map([upto, under], "sub")
    return step.linear_offchip_store(step.map(counts, step.fn.cast(dtype="int64")), "counts")
