"""swiglu_linear_layout expert: nn.Linear-layout weights used as stored (transposed
matmuls), 32-token tiles, 4 compute tiles per matmul."""

from dsl import step


def kernel(x, w_gate, w_up, w_down, tile_rows=32):
    F, H = w_gate.shape[0].value, w_gate.shape[1].value
    t = step.fn.matmul(transpose_b=True)
    x1, x2, r1, r2, r3 = step.copy(step.linear_offchip_load(x, (tile_rows, H)), 5)
    wg = step.expand(step.linear_offchip_load(w_gate, (F, H)), r1)
    wu = step.expand(step.linear_offchip_load(w_up, (F, H)), r2)
    wd = step.expand(step.linear_offchip_load(w_down, (H, F)), r3)
    gate = step.map(step.map([x1, wg], t, compute=4), "silu", compute=2)
    hidden = step.map([gate, step.map([x2, wu], t, compute=4)], "mul")
    return step.linear_offchip_store(step.map([hidden, wd], t, compute=4), "y")
