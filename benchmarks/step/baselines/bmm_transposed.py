"""bmm_transposed: static row tiling (builtin compiler).

Every value is a stream of [tile_rows, C] tiles along M under B;
weights and vectors are read once and repeated on chip for every row tile (expand).
"""

from dsl import step


@step.tunable(tile_rows=[8, 16, 32, 64, 128], compute=[1, 2, 4, 8, 16])
def kernel(a, b, tile_rows=16, compute=1):
    a_t = step.linear_offchip_load(a, (tile_rows, 32))  # stream [B, cdiv(M, tile_rows), 1]
    a_t0, a_t1 = step.copy(a_t, 2)
    b_tile = step.linear_offchip_load(b, (48, 32))  # read once per batch entry
    b_t = step.expand(b_tile, a_t1)  # kept on chip, repeated for every row tile
    c = step.map([a_t0, b_t], step.fn.matmul(transpose_b=True), compute=compute)
    return step.linear_offchip_store(c, "c")
