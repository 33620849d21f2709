"""linear_transposed expert: the weight stays in its [N, K] layout (transposed matmul)."""

from dsl import step


def kernel(x, w, tile_rows=32):
    N, K = w.shape[0].value, w.shape[1].value
    x_t, ref = step.copy(step.linear_offchip_load(x, (tile_rows, K)))
    w_t = step.expand(step.linear_offchip_load(w, (N, K)), ref)
    y = step.map([x_t, w_t], step.fn.matmul(transpose_b=True), compute=4)
    return step.linear_offchip_store(y, "y")
