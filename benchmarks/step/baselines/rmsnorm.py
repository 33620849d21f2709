"""rmsnorm: static row tiling (builtin compiler).

Every value is a stream of [tile_rows, C] tiles along M;
weights and vectors are read once and repeated on chip for every row tile (expand).
"""

from dsl import step


@step.tunable(tile_rows=[8, 16, 32, 64, 128], compute=[1, 2, 4, 8, 16])
def kernel(x, g, tile_rows=16, compute=1):
    x_t = step.linear_offchip_load(x, (tile_rows, 64))  # stream [cdiv(M, tile_rows), 1]
    x_t0, x_t1, x_t2 = step.copy(x_t, 3)
    g_tile = step.linear_offchip_load(g, (1, 64))  # read once
    g_t = step.expand(g_tile, x_t2)  # kept on chip, repeated for every row tile
    sq = step.map(x_t0, "square", compute=compute)
    ms = step.map(sq, "row_mean", compute=compute)
    ms_eps = step.map(ms, step.fn.add_scalar(value=1e-05), compute=compute)
    inv = step.map(ms_eps, "rsqrt", compute=compute)
    xn = step.map([x_t1, inv], "mul", compute=compute)
    y = step.map([xn, g_t], "mul", compute=compute)
    return step.linear_offchip_store(y, "y")
