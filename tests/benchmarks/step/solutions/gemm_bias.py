"""gemm_bias expert: the bias add fused after a 4-tile matmul on 32-row tiles."""

from dsl import step


def kernel(x, w, bias, tile_rows=32):
    K, N = w.shape[0].value, w.shape[1].value
    x_t, ref_w, ref_b = step.copy(step.linear_offchip_load(x, (tile_rows, K)), 3)
    w_t = step.expand(step.linear_offchip_load(w, (K, N)), ref_w)
    b_t = step.expand(step.linear_offchip_load(bias, (1, N)), ref_b)
    y = step.map([step.map([x_t, w_t], "matmul", compute=4), b_t], "add")
    return step.linear_offchip_store(y, "y")
