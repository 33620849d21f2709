"""MoE layer with a shared expert, baseline: static tiling, one spatial region per expert (the paper's "prior
abstraction" schedule).

Tokens are routed to their experts with partition; each expert packs its tokens into tiles
of at most `tile_n` rows (reshape + retile_row) and, for every such tile, streams its
SwiGLU weights from off-chip in `tile_f`-wide column blocks. An expert with many tokens
re-reads its weights once per tile; an expert with none does no work. Results are scaled
by the router weights after being reassembled in token order. The shared expert runs on every
token row with its weights read once and repeated on chip, and is added at the end.
"""

from dsl import step


def kernel(
    x,
    expert_idx,
    expert_weight,
    w_gate,
    w_up,
    w_down,
    shared_gate,
    shared_up,
    shared_down,
    tile_n=8,
    tile_f=32,
):
    B, H = x.shape
    n_experts, _, F = w_gate.shape
    E, topk, h, ft = n_experts.value, expert_idx.shape[1].value, H.value, F.value // tile_f
    rows, shared_rows = step.copy(step.linear_offchip_load(x, (1, h)))  # [B, 1] of [1, H]
    # The routing is read twice rather than copied: the copy feeding reassemble would fill
    # up while the experts work and stall the partition (a deadlock).
    sel_route, sel_back = (
        step.map(step.linear_offchip_load(expert_idx, (1, topk)), step.fn.to_selector(n=E))
        for _ in range(2)
    )
    outs = []
    for e, part in enumerate(step.partition(rows, sel_route, E)):  # [n_e] of [1, H]
        chunks = step.reshape(step.promote(part), tile_n)  # [p, cdiv(n_e, tile_n), <= tile_n]
        tiles = step.accum(chunks, "retile_row", rank=1)  # one tile of <= tile_n token rows
        t1, t2, t3, t4 = step.copy(tiles, 4)
        w1 = step.linear_offchip_load(w_gate, (h, tile_f), ref=t1, shape=(ft,), base=e * ft)
        w3 = step.linear_offchip_load(w_up, (h, tile_f), ref=t2, shape=(ft,), base=e * ft)
        xa, xb = step.copy(step.repeat(t3, ft))
        gate = step.map(step.map([xa, w1], "matmul"), "silu")
        hidden = step.map([gate, step.map([xb, w3], "matmul")], "mul")
        w2 = step.linear_offchip_load(w_down, (tile_f, h), ref=t4, shape=(ft,), base=e * ft)
        y_e = step.accum([hidden, w2], "matmul", rank=1)  # one [rows, H] tile per token tile
        y_rows = step.flatten(step.flat_map(y_e, step.fn.split_rows(rows=1)), 0, 2)
        outs.append(y_rows)
    y = step.reassemble(outs, sel_back)  # [B, 1, r] of [1, H]: a token's experts in id order
    # expert_idx rows are ascending, so the j-th reassembled row belongs to weight j.
    gate_w = step.linear_offchip_load(expert_weight, (1, 1), shape=(B, 1, topk))
    y = step.map([step.assume_shape(y, gate_w.shape), gate_w], "mul")
    routed = step.accum(y, "add", rank=1)  # [B, 1] of [1, H]
    return step.linear_offchip_store(
        step.map([routed, shared(shared_rows, shared_gate, shared_up, shared_down)], "add"), "y"
    )


def shared(rows, w_gate, w_up, w_down):
    """SwiGLU on every row; the whole weights stay on chip (expand over the rows)."""
    h, f = w_gate.shape[0].value, w_gate.shape[1].value
    r0, r1, r2, r3, r4 = step.copy(rows, 5)
    w1 = step.expand(step.linear_offchip_load(w_gate, (h, f)), r2)
    w3 = step.expand(step.linear_offchip_load(w_up, (h, f)), r3)
    w2 = step.expand(step.linear_offchip_load(w_down, (f, h)), r4)
    gate = step.map(step.map([r0, w1], "matmul"), "silu")
    hidden = step.map([gate, step.map([r1, w3], "matmul")], "mul")
    return step.map([hidden, w2], "matmul")
