"""moe_combine_gather baseline: gather each (token, slot) row of y_sorted with a random
read, scale it by its router weight and sum the slots of a token."""

from dsl import step


def kernel(y_sorted, src, weight):
    H = y_sorted.shape[1]
    rows = step.random_offchip_load(y_sorted, step.linear_offchip_load(src, (1, 1)), (1, H.value))
    w = step.linear_offchip_load(weight, (1, 1))  # [B, topk] of [1, 1]
    out = step.accum(step.map([rows, w], "mul"), "add", rank=1)  # [B] of [1, H]
    return step.linear_offchip_store(out, "out")
