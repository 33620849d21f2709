"""bmm_transposed expert: one [M, K] tile per batch entry against b[i] in [N, K] layout."""

from dsl import step


def kernel(a, b):
    M, K = a.shape[1].value, a.shape[2].value
    N = b.shape[1].value
    a_t = step.linear_offchip_load(a, (M, K))  # [B, 1, 1]
    b_t = step.linear_offchip_load(b, (N, K))  # [B, 1, 1]
    c = step.map([a_t, b_t], step.fn.matmul(transpose_b=True), compute=2)
    return step.linear_offchip_store(c, "c")
