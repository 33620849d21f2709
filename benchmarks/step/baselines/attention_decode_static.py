"""Ragged decode attention baseline: static interleaved parallelization.

`regions` copies of one attention pipeline run side by side; request b goes to region
b % regions whatever its KV length (strided loads), so a region that draws long requests
finishes last while the others idle. Inside a region, each request reads only its
ceil(kv_len / tile_kv) cache tiles (random reads at computed tile addresses), masks the
columns past kv_len in its last tile, and does a two-pass softmax: row max over the tiles,
then exp / sum and the weighted sum of V tiles (scores and V tiles buffered on chip
between the passes).
"""

from dsl import step


def kernel(q, k_cache, v_cache, kv_len, regions=4, tile_kv=16):
    B = q.shape[0]
    per_region = B // regions  # every batch size of this task is a multiple of 4
    stores = []
    for r in range(regions):
        q_r = step.linear_offchip_load(q, q_tile(q), shape=(per_region,), stride=(regions,), base=r)
        lens = step.linear_offchip_load(
            kv_len, (1, 1), shape=(per_region,), stride=(regions,), base=r
        )
        lens_a, lens_b = step.copy(lens)
        ones = step.map(lens_a, step.fn.affine_index(scale=0, offset=1))
        request = step.map(
            step.scan(ones, "add", rank=1),  # r, r + regions, ...
            step.fn.affine_index(scale=regions, offset=r - regions),
        )
        stores.append(attend(q_r, lens_b, request, k_cache, v_cache, tile_kv))
    return stores


def q_tile(q):
    return (q.shape[1].value, q.shape[2].value)


def attend(q_r, lens, request, k_cache, v_cache, tile_kv):
    """Attention of one region's requests; stores each result at its request's row."""
    L, D = k_cache.shape[1].value, k_cache.shape[2].value
    per_request = L // tile_kv  # cache tiles reserved per request
    len_a, len_b = step.copy(lens)
    req_a, req_b, req_c = step.copy(request, 3)
    start = step.map(req_a, step.fn.affine_index(scale=per_request))
    count = step.map(len_a, step.fn.ceil_div(divisor=tile_kv))
    addr = step.flat_map(step.map([start, count], "concat_cols"), "range")  # [n, r] tiles
    a_k, a_v, a_ref, a_val, a_q = step.copy(addr, 5)
    keys = step.random_offchip_load(k_cache, a_k, (tile_kv, D))
    values = step.random_offchip_load(v_cache, a_v, (tile_kv, D))
    # valid columns of tile i: kv_len - tile_kv * i = (kv_len + tile_kv * start) - tile_kv * addr
    bias = step.map(
        [len_b, step.map(req_b, step.fn.affine_index(scale=tile_kv * per_request))], "add"
    )
    valid = step.map(
        [step.expand(bias, a_ref), step.map(a_val, step.fn.affine_index(scale=-tile_kv))], "add"
    )
    scores = step.map([step.expand(q_r, a_q), keys], step.fn.matmul(transpose_b=True))
    scores = step.map(scores, step.fn.scale(factor=D**-0.5))
    s1, s2 = step.copy(step.map([scores, valid], step.fn.mask_after()))
    row_max = step.accum(step.map(s1, "row_max"), "max", rank=1)  # [n] of [R, 1]
    again, ref = step.copy(step.streamify(step.bufferize(s2, rank=1)))
    p1, p2 = step.copy(step.map(step.map([again, step.expand(row_max, ref)], "sub"), "exp"))
    total = step.accum(step.map(p1, "row_sum"), "add", rank=1)
    v_again = step.streamify(step.bufferize(values, rank=1))
    weighted = step.accum([p2, v_again], "matmul", rank=1)  # [n] of [R, D]
    return step.random_offchip_store(step.map([weighted, total], "div"), req_c, "out")
