"""moe_combine_gather expert: gathered rows scaled (two memory ports: the scaling map is the
bottleneck) and summed per token as they arrive."""

from dsl import step


def kernel(y_sorted, src, weight):
    H = y_sorted.shape[1].value
    rows = step.random_offchip_load(y_sorted, step.linear_offchip_load(src, (1, 1)), (1, H))
    scaled = step.map([rows, step.linear_offchip_load(weight, (1, 1))], "mul", compute=2)
    return step.linear_offchip_store(step.accum(scaled, "add", rank=1), "out")
