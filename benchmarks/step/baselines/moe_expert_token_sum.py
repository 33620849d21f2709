"""moe_expert_token_sum baseline: route token rows to experts with partition, then sum each
expert's rows. An expert with no token still needs a zero row, so every expert also gets
one zero row (made from the first input row) routed through its own selector."""

from dsl import step


def kernel(x, expert_idx):
    B, H = x.shape
    E = 8
    topk = expert_idx.shape[1]
    rows = step.linear_offchip_load(x, (1, H.value))  # [B, 1] of [1, H]
    sel = step.map(step.linear_offchip_load(expert_idx, (1, topk.value)), step.fn.to_selector(n=E))
    routed = step.partition(rows, sel, E)  # expert e: [n_e] of [1, H]
    # One zero row per expert: row 0 of x scaled by 0, sent to expert e by id e.
    zero = step.linear_offchip_load(x, (1, H.value), shape=(E,), stride=(0,))
    zero_rows = step.map(zero, step.fn.scale(factor=0.0))
    first_id = step.linear_offchip_load(expert_idx, (1, 1), shape=(1,), stride=(0,))
    ids = step.flat_map(step.map(first_id, step.fn.affine_index(scale=0)),
                        step.fn.arange(count=E))
    pads = step.partition(step.flatten(zero_rows, 0, 0) if False else zero_rows,
                          step.map(step.flatten(ids, 0, 1), step.fn.to_selector(n=E)), E)
    stores = []
    for e in range(E):
        merged, _ = step.eager_merge([pads[e], routed[e]])
        total = step.accum(step.promote(merged), "add", rank=1)  # [1] of [1, H]
        stores.append(step.linear_offchip_store(total, "sums", stride=(1,), base=e))
    return stores
