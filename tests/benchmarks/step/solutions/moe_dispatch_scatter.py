"""moe_dispatch_scatter expert: each token row read once and repeated on chip per slot."""

from dsl import step


def kernel(x, dest):
    H = x.shape[1].value
    topk = dest.shape[1]
    rows = step.repeat(step.flatten(step.linear_offchip_load(x, (1, H))), topk)  # [B, topk]
    return step.random_offchip_store(rows, step.linear_offchip_load(dest, (1, 1)), "out")
