"""rope_positions expert: one position stream drives both table gathers; the maps, bound by
their memory ports, get two each."""

from dsl import step


def kernel(x, pos, cos_table, sin_table):
    B, D = x.shape
    x1, x2 = step.copy(step.linear_offchip_load(x, (1, D.value)))  # [B, 1] of [1, D]
    p1, p2 = step.copy(step.linear_offchip_load(pos, (1, 1), shape=(B, 1)))
    cos = step.random_offchip_load(cos_table, p1, (1, D.value))
    sin = step.random_offchip_load(sin_table, p2, (1, D.value))
    rotated = step.map([step.map(x2, "rotate_half"), sin], "mul", compute=2)
    y = step.map([step.map([x1, cos], "mul", compute=2), rotated], "add", compute=2)
    return step.linear_offchip_store(y, "y")
