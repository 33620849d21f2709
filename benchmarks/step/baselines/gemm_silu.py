"""gemm_silu: static row tiling (builtin compiler).

Every value is a stream of [tile_rows, C] tiles along M;
weights and vectors are read once and repeated on chip for every row tile (expand).
"""

from dsl import step


@step.tunable(tile_rows=[8, 16, 32, 64, 128], compute=[1, 2, 4, 8, 16])
def kernel(x, w, tile_rows=16, compute=1):
    x_t = step.linear_offchip_load(x, (tile_rows, 64))  # stream [cdiv(M, tile_rows), 1]
    x_t0, x_t1 = step.copy(x_t, 2)
    w_tile = step.linear_offchip_load(w, (64, 128))  # read once
    w_t = step.expand(w_tile, x_t1)  # kept on chip, repeated for every row tile
    xw = step.map([x_t0, w_t], "matmul", compute=compute)
    y = step.map(xw, "silu", compute=compute)
    return step.linear_offchip_store(y, "y")
