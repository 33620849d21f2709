"""attention_kv_tiled expert: scores computed once per key block and kept on chip
(bufferize) between the max pass and the exp / sum pass; q read once per key block."""

from dsl import step


def kernel(q, k, v, tile_q=32, tile_kv=32):
    S, D = q.shape[0].value, q.shape[1].value
    qt, kt = -(-S // tile_q), step.cdiv(k.shape[0], tile_kv)
    q_t = step.linear_offchip_load(q, (tile_q, D), shape=(qt, kt), stride=(1, 0))
    k_t = step.linear_offchip_load(k, (tile_kv, D), shape=(qt, kt), stride=(0, 1))
    s = step.map(
        [step.map(q_t, step.fn.scale(factor=D**-0.5)), k_t],
        step.fn.matmul(transpose_b=True),
        compute=2,
    )  # [qt, kt] of [tq, tkv]
    s1, s2 = step.copy(s)
    row_max = step.accum(step.map(s1, "row_max"), "max", rank=1)  # [qt] of [tq, 1]
    again, ref = step.copy(step.streamify(step.bufferize(s2, rank=1)))
    p1, p2 = step.copy(step.map(step.map([again, step.expand(row_max, ref)], "sub"), "exp"))
    total = step.accum(step.map(p1, "row_sum"), "add", rank=1)
    v_t = step.linear_offchip_load(v, (tile_kv, D), shape=(qt, kt), stride=(0, 1))
    weighted = step.accum([p2, v_t], "matmul", rank=1, compute=2)
    return step.linear_offchip_store(step.map([weighted, total], "div"), "o")
