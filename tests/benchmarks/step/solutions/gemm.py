"""gemm expert: 32-row tiles of a, b kept on chip, the matmul given 4 compute tiles."""

from dsl import step


def kernel(a, b, tile_rows=32):
    K, N = b.shape[0].value, b.shape[1].value
    a_t, ref = step.copy(step.linear_offchip_load(a, (tile_rows, K)))
    b_t = step.expand(step.linear_offchip_load(b, (K, N)), ref)
    return step.linear_offchip_store(step.map([a_t, b_t], "matmul", compute=4), "c")
