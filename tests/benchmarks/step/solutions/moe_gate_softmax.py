"""moe_gate_softmax expert: router logits and softmax on 8-token tiles."""

from dsl import step


def kernel(x, w_gate, tile_rows=8):
    H, E = w_gate.shape[0].value, w_gate.shape[1].value
    x_t, ref = step.copy(step.linear_offchip_load(x, (tile_rows, H)))
    logits = step.map(
        [x_t, step.expand(step.linear_offchip_load(w_gate, (H, E)), ref)], "matmul", compute=2
    )
    l1, l2 = step.copy(logits)
    e1, e2 = step.copy(step.map(step.map([l1, step.map(l2, "row_max")], "sub"), "exp"))
    return step.linear_offchip_store(step.map([e1, step.map(e2, "row_sum")], "div"), "probs")
