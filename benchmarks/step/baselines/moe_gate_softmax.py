"""moe_gate_softmax: static row tiling (builtin compiler).

Every value is a stream of [tile_rows, C] tiles along M;
weights and vectors are read once and repeated on chip for every row tile (expand).
"""

from dsl import step


@step.tunable(tile_rows=[8, 16, 32, 64, 128], compute=[1, 2, 4, 8, 16])
def kernel(x, w_gate, tile_rows=16, compute=1):
    x_t = step.linear_offchip_load(x, (tile_rows, 64))  # stream [cdiv(M, tile_rows), 1]
    x_t0, x_t1 = step.copy(x_t, 2)
    w_gate_tile = step.linear_offchip_load(w_gate, (64, 8))  # read once
    w_gate_t = step.expand(w_gate_tile, x_t1)  # kept on chip, repeated for every row tile
    logits = step.map([x_t0, w_gate_t], "matmul", compute=compute)
    probs_a, probs_b = step.copy(logits)
    probs_shifted = step.map(
        [probs_a, step.map(probs_b, "row_max", compute=compute)], "sub", compute=compute)
    probs_e1, probs_e2 = step.copy(step.map(probs_shifted, "exp", compute=compute))
    probs = step.map(
        [probs_e1, step.map(probs_e2, "row_sum", compute=compute)], "div", compute=compute)
    return step.linear_offchip_store(probs, "probs")
