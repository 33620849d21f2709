"""moe_expert_token_sum baseline: route token rows to experts with partition, then sum each
expert's rows.

An expert that receives no token must still produce a zero row, but an empty stream has no
chunk to fold. So every expert also receives one zero row (row 0 of x scaled by 0, routed by
its own id) and the two are merged before the sum. eager_merge's selector output (which
input each row came from) is not needed and goes to a sink.
"""

from dsl import step

E = 8


def kernel(x, expert_idx):
    B, H = x.shape
    topk = expert_idx.shape[1].value
    rows = step.linear_offchip_load(x, (1, H.value))  # [B, 1] of [1, H]
    sel = step.map(step.linear_offchip_load(expert_idx, (1, topk)), step.fn.to_selector(n=E))
    routed = step.partition(rows, sel, E)  # expert e: [n_e] of [1, H]
    zero = step.map(
        step.linear_offchip_load(x, (1, H.value), shape=(E,), stride=(0,)),
        step.fn.scale(factor=0.0),
    )  # [E] zero rows
    first = step.linear_offchip_load(expert_idx, (1, 1), shape=(1,), stride=(0,))
    ids = step.flat_map(step.map(first, step.fn.affine_index(scale=0)), step.fn.arange(count=E))
    pads = step.partition(zero, step.map(step.flatten(ids), step.fn.to_selector(n=E)), E)
    stores = []
    for e in range(E):
        merged, source = step.eager_merge([pads[e], routed[e]])
        step.sink(source)  # which input each row came from: not needed for a sum
        total = step.accum(step.promote(merged), "add", rank=1)  # [1] of [1, H]
        stores.append(step.linear_offchip_store(total, "sums", stride=(1,), base=e))
    return stores
