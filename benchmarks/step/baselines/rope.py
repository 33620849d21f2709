"""rope: static row tiling (builtin compiler).

Every value is a stream of [tile_rows, C] tiles along S;
weights and vectors are read once and repeated on chip for every row tile (expand).
"""

from dsl import step


@step.tunable(tile_rows=[8, 16, 32, 64, 128], compute=[1, 2, 4, 8, 16])
def kernel(x, cos, sin, tile_rows=16, compute=1):
    x_t = step.linear_offchip_load(x, (tile_rows, 32))  # stream [cdiv(S, tile_rows), 1]
    x_t0, x_t1 = step.copy(x_t, 2)
    cos_t = step.linear_offchip_load(cos, (tile_rows, 32))  # stream [cdiv(S, tile_rows), 1]
    sin_t = step.linear_offchip_load(sin, (tile_rows, 32))  # stream [cdiv(S, tile_rows), 1]
    xc = step.map([x_t0, cos_t], "mul", compute=compute)
    xr = step.map(x_t1, "rotate_half", compute=compute)
    xrs = step.map([xr, sin_t], "mul", compute=compute)
    y = step.map([xc, xrs], "add", compute=compute)
    return step.linear_offchip_store(y, "y")
