"""expert_ffn_scaled expert: 32-token tiles, 4 compute tiles per matmul; each token's router
weight arrives as a [tile_rows, 1] column (a transposed [1, tile_rows] load) and scales the
[tokens, H] result."""

from dsl import step


def kernel(x, weight, w_gate, w_up, w_down, tile_rows=32):
    M, H = x.shape
    F = w_gate.shape[1].value
    x1, x2, r1, r2, r3 = step.copy(step.linear_offchip_load(x, (tile_rows, H.value)), 5)
    wg = step.expand(step.linear_offchip_load(w_gate, (H.value, F)), r1)
    wu = step.expand(step.linear_offchip_load(w_up, (H.value, F)), r2)
    wd = step.expand(step.linear_offchip_load(w_down, (F, H.value)), r3)
    gate = step.map(step.map([x1, wg], "matmul", compute=4), "silu", compute=2)
    hidden = step.map([gate, step.map([x2, wu], "matmul", compute=4)], "mul")
    out = step.map([hidden, wd], "matmul", compute=4)
    scale = step.map(
        step.linear_offchip_load(weight, (1, tile_rows), shape=(step.cdiv(M, tile_rows), 1)),
        "transpose",
    )
    return step.linear_offchip_store(step.map([out, scale], "mul"), "y")
