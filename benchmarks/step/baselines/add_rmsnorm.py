"""add_rmsnorm: static row tiling (builtin compiler).

Every value is a stream of [tile_rows, C] tiles along M;
weights and vectors are read once and repeated on chip for every row tile (expand).
"""

from dsl import step


@step.tunable(tile_rows=[8, 16, 32, 64, 128], compute=[1, 2, 4, 8, 16])
def kernel(x, residual, g, tile_rows=16, compute=1):
    x_t = step.linear_offchip_load(x, (tile_rows, 64))  # stream [cdiv(M, tile_rows), 1]
    x_t0, x_t1 = step.copy(x_t, 2)
    # stream [cdiv(M, tile_rows), 1]
    residual_t = step.linear_offchip_load(residual, (tile_rows, 64))
    g_tile = step.linear_offchip_load(g, (1, 64))  # read once
    g_t = step.expand(g_tile, x_t1)  # kept on chip, repeated for every row tile
    h = step.map([x_t0, residual_t], "add", compute=compute)
    h0, h1, h2 = step.copy(h, 3)
    sq = step.map(h0, "square", compute=compute)
    ms = step.map(sq, "row_mean", compute=compute)
    ms_eps = step.map(ms, step.fn.add_scalar(value=1e-05), compute=compute)
    inv = step.map(ms_eps, "rsqrt", compute=compute)
    hn = step.map([h1, inv], "mul", compute=compute)
    y = step.map([hn, g_t], "mul", compute=compute)
    return (
        step.linear_offchip_store(y, "y"),
        step.linear_offchip_store(h2, "h"),
    )
