"""swiglu expert: gate and up projections from one x stream, 32-token tiles, the three
matmuls given 4 compute tiles each."""

from dsl import step


def kernel(x, w_gate, w_up, w_down, tile_rows=32):
    H, F = w_gate.shape[0].value, w_gate.shape[1].value
    x1, x2, r1, r2, r3 = step.copy(step.linear_offchip_load(x, (tile_rows, H)), 5)
    wg = step.expand(step.linear_offchip_load(w_gate, (H, F)), r1)
    wu = step.expand(step.linear_offchip_load(w_up, (H, F)), r2)
    wd = step.expand(step.linear_offchip_load(w_down, (F, H)), r3)
    gate = step.map(step.map([x1, wg], "matmul", compute=4), "silu", compute=2)
    hidden = step.map([gate, step.map([x2, wu], "matmul", compute=4)], "mul")
    return step.linear_offchip_store(step.map([hidden, wd], "matmul", compute=4), "y")
