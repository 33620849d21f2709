"""MoE layer expert: dynamic tiling (STeP's answer to data-dependent expert loads).

Each expert packs *all* its routed tokens into one dynamically sized tile (promote +
retile_row), so its SwiGLU weights are streamed from off-chip exactly once per batch
whatever the token count, with no padding; an expert with no token does nothing.
Results are reassembled in token order and scaled by the router weights.
Compute fits the chip's 1,040 units: 128 experts x 8 units (compute=2 only on the w_down
accumulation, the longest op) + 4 = 1,028.
"""

from dsl import step


def kernel(x, expert_idx, expert_weight, w_gate, w_up, w_down, tile_f=32):
    B, H = x.shape
    n_experts, _, F = w_gate.shape
    E, topk, h, ft = n_experts.value, expert_idx.shape[1].value, H.value, F.value // tile_f
    rows = step.linear_offchip_load(x, (1, h))  # [B, 1] of [1, H]
    # The routing is read twice rather than copied: the copy feeding reassemble would fill
    # up while the experts work and stall the partition (a deadlock).
    sel_route, sel_back = (
        step.map(step.linear_offchip_load(expert_idx, (1, topk)), step.fn.to_selector(n=E))
        for _ in range(2)
    )
    outs = []
    for e, part in enumerate(step.partition(rows, sel_route, E)):  # [n_e] of [1, H]
        tile = step.accum(step.promote(part), "retile_row", rank=1)  # [p] of [n_e, H], p <= 1
        t1, t2, t3, t4 = step.copy(tile, 4)
        w1 = step.linear_offchip_load(w_gate, (h, tile_f), ref=t1, shape=(ft,), base=e * ft)
        w3 = step.linear_offchip_load(w_up, (h, tile_f), ref=t2, shape=(ft,), base=e * ft)
        xa, xb = step.copy(step.repeat(t3, ft))
        gate = step.map(step.map([xa, w1], "matmul"), "silu")
        hidden = step.map([gate, step.map([xb, w3], "matmul")], "mul")
        w2 = step.linear_offchip_load(w_down, (tile_f, h), ref=t4, shape=(ft,), base=e * ft)
        y_e = step.accum([hidden, w2], "matmul", rank=1, compute=2)  # [p] of [n_e, H]
        y_rows = step.flatten(step.flat_map(y_e, step.fn.split_rows(rows=1)))
        outs.append(y_rows)
    y = step.reassemble(outs, sel_back)  # [B, 1, r] of [1, H]: a token's experts in id order
    # expert_idx rows are ascending, so the j-th reassembled row belongs to weight j.
    gate_w = step.linear_offchip_load(expert_weight, (1, 1), shape=(B, 1, topk))
    y = step.map([step.assume_shape(y, gate_w.shape), gate_w], "mul")
    return step.linear_offchip_store(step.accum(y, "add", rank=1), "y")
