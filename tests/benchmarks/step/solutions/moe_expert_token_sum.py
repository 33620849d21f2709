"""moe_expert_token_sum expert: per-expert sums through partition, with one zero row per
expert merged in so that an expert without tokens still yields its (zero) sum."""

from dsl import step


def kernel(x, expert_idx):
    H = x.shape[1].value
    E, topk = 8, expert_idx.shape[1].value
    sel = step.map(step.linear_offchip_load(expert_idx, (1, topk)), step.fn.to_selector(n=E))
    routed = step.partition(step.linear_offchip_load(x, (1, H)), sel, E)  # [n_e] of [1, H]
    first = step.linear_offchip_load(x, (1, H), shape=(1,), stride=(0,))  # zeroed below
    zero_rows = step.flatten(step.repeat(step.map(first, step.fn.scale(factor=0.0)), E))
    first_id = step.linear_offchip_load(expert_idx, (1, 1), shape=(1,), stride=(0,))
    ids = step.flat_map(step.map(first_id, step.fn.affine_index(scale=0)), step.fn.arange(count=E))
    pads = step.partition(zero_rows, step.map(step.flatten(ids), step.fn.to_selector(n=E)), E)
    stores = []
    for e in range(E):
        merged, source = step.eager_merge([pads[e], routed[e]])
        step.sink(source)
        total = step.accum(step.promote(merged), "add", rank=1)
        stores.append(step.linear_offchip_store(total, "sums", stride=(1,), base=e))
    return stores
