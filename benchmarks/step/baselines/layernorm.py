"""layernorm: static row tiling (builtin compiler).

Every value is a stream of [tile_rows, C] tiles along M;
weights and vectors are read once and repeated on chip for every row tile (expand).
"""

from dsl import step


@step.tunable(tile_rows=[8, 16, 32, 64, 128], compute=[1, 2, 4, 8, 16])
def kernel(x, g, b, tile_rows=16, compute=1):
    x_t = step.linear_offchip_load(x, (tile_rows, 96))  # stream [cdiv(M, tile_rows), 1]
    x_t0, x_t1, x_t2, x_t3 = step.copy(x_t, 4)
    g_tile = step.linear_offchip_load(g, (1, 96))  # read once
    g_t = step.expand(g_tile, x_t2)  # kept on chip, repeated for every row tile
    b_tile = step.linear_offchip_load(b, (1, 96))  # read once
    b_t = step.expand(b_tile, x_t3)  # kept on chip, repeated for every row tile
    mean = step.map(x_t0, "row_mean", compute=compute)
    xc = step.map([x_t1, mean], "sub", compute=compute)
    xc0, xc1 = step.copy(xc, 2)
    sq = step.map(xc0, "square", compute=compute)
    var = step.map(sq, "row_mean", compute=compute)
    var_eps = step.map(var, step.fn.add_scalar(value=1e-05), compute=compute)
    inv = step.map(var_eps, "rsqrt", compute=compute)
    xn = step.map([xc1, inv], "mul", compute=compute)
    xg = step.map([xn, g_t], "mul", compute=compute)
    y = step.map([xg, b_t], "add", compute=compute)
    return step.linear_offchip_store(y, "y")
