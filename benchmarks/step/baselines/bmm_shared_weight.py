"""bmm_shared_weight: static row tiling (builtin compiler).

Every value is a stream of [tile_rows, C] tiles along M under B;
weights and vectors are read once and repeated on chip for every row tile (expand).
"""

from dsl import step


@step.tunable(tile_rows=[8, 16, 32, 64, 128], compute=[1, 2, 4, 8, 16])
def kernel(a, w, tile_rows=16, compute=1):
    a_t = step.linear_offchip_load(a, (tile_rows, 64))  # stream [B, cdiv(M, tile_rows), 1]
    a_t0, a_t1 = step.copy(a_t, 2)
    w_tile = step.linear_offchip_load(w, (64, 32))  # read once
    w_t = step.expand(w_tile, a_t1)  # kept on chip, repeated for every row tile
    c = step.map([a_t0, w_t], "matmul", compute=compute)
    return step.linear_offchip_store(c, "c")
