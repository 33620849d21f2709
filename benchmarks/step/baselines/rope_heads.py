"""rope_heads: static row tiling (builtin compiler).

Every value is a stream of [tile_rows, C] tiles along S under NH;
weights and vectors are read once and repeated on chip for every row tile (expand).
"""

from dsl import step


@step.tunable(tile_rows=[8, 16, 32, 64, 128], compute=[1, 2, 4, 8, 16])
def kernel(x, cos, sin, tile_rows=16, compute=1):
    S_tiles = step.cdiv(x.shape[-2], tile_rows)  # the last tile is zero-padded
    NH = x.shape[0]
    x_t = step.linear_offchip_load(x, (tile_rows, 32))  # stream [NH, cdiv(S, tile_rows), 1]
    x_t0, x_t1 = step.copy(x_t, 2)
    # stride 0: once per NH
    cos_t = step.linear_offchip_load(cos, (tile_rows, 32), shape=(NH, S_tiles, 1), stride=(0, 1, 1))
    # stride 0: once per NH
    sin_t = step.linear_offchip_load(sin, (tile_rows, 32), shape=(NH, S_tiles, 1), stride=(0, 1, 1))
    xc = step.map([x_t0, cos_t], "mul", compute=compute)
    xr = step.map(x_t1, "rotate_half", compute=compute)
    xrs = step.map([xr, sin_t], "mul", compute=compute)
    y = step.map([xc, xrs], "add", compute=compute)
    return step.linear_offchip_store(y, "y")
