"""rope expert: 4-row tiles (the maps pipeline); x read once, split into its two uses."""

from dsl import step


def kernel(x, cos, sin, tile_rows=4):
    D = x.shape[1].value
    x1, x2 = step.copy(step.linear_offchip_load(x, (tile_rows, D)))
    c = step.linear_offchip_load(cos, (tile_rows, D))
    s = step.linear_offchip_load(sin, (tile_rows, D))
    y = step.map(
        [step.map([x1, c], "mul"), step.map([step.map(x2, "rotate_half"), s], "mul")], "add"
    )
    return step.linear_offchip_store(y, "y")
