"""gemm_silu expert: SiLU applied to each matmul output tile as it streams out."""

from dsl import step


def kernel(x, w, tile_rows=32):
    K, N = w.shape[0].value, w.shape[1].value
    x_t, ref = step.copy(step.linear_offchip_load(x, (tile_rows, K)))
    w_t = step.expand(step.linear_offchip_load(w, (K, N)), ref)
    y = step.map(step.map([x_t, w_t], "matmul", compute=4), "silu", compute=2)
    return step.linear_offchip_store(y, "y")
