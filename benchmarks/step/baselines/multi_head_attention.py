"""multi_head_attention: static row tiling (builtin compiler).

Every value is a stream of [tile_rows, C] tiles along S under H;
weights and vectors are read once and repeated on chip for every row tile (expand).
"""

from dsl import step


@step.tunable(tile_rows=[8, 16, 32, 64, 128], compute=[1, 2, 4, 8, 16])
def kernel(q, k, v, tile_rows=16, compute=1):
    q_t = step.linear_offchip_load(q, (tile_rows, 16))  # stream [H, cdiv(S, tile_rows), 1]
    q_t0, q_t1, q_t2 = step.copy(q_t, 3)
    k_tile = step.linear_offchip_load(k, (32, 16))  # read once per batch entry
    k_t = step.expand(k_tile, q_t1)  # kept on chip, repeated for every row tile
    v_tile = step.linear_offchip_load(v, (32, 16))  # read once per batch entry
    v_t = step.expand(v_tile, q_t2)  # kept on chip, repeated for every row tile
    qk = step.map([q_t0, k_t], step.fn.matmul(transpose_b=True), compute=compute)
    scaled = step.map(qk, step.fn.scale(factor=0.25), compute=compute)
    p_a, p_b = step.copy(scaled)
    p_shifted = step.map([p_a, step.map(p_b, "row_max", compute=compute)], "sub", compute=compute)
    p_e1, p_e2 = step.copy(step.map(p_shifted, "exp", compute=compute))
    p = step.map([p_e1, step.map(p_e2, "row_sum", compute=compute)], "div", compute=compute)
    o = step.map([p, v_t], "matmul", compute=compute)
    return step.linear_offchip_store(o, "o")
