"""rope_positions baseline: one token per row tile; the cos/sin rows are gathered by
position with random off-chip reads, each table row read once per token."""

from dsl import step


def kernel(x, pos, cos_table, sin_table):
    B, D = x.shape
    x_a, x_b = step.copy(step.linear_offchip_load(x, (1, D.value)))  # [B, 1] of [1, D]
    pos_a, pos_b = step.copy(step.linear_offchip_load(pos, (1, 1), shape=(B, 1)))
    cos = step.random_offchip_load(cos_table, pos_a, (1, D.value))  # row pos[b] of the table
    sin = step.random_offchip_load(sin_table, pos_b, (1, D.value))
    rotated = step.map([step.map(x_b, "rotate_half"), sin], "mul")
    y = step.map([step.map([x_a, cos], "mul"), rotated], "add")
    return step.linear_offchip_store(y, "y")
