"""Ragged decode attention expert: dynamic parallelization.

Requests are dispatched to `regions` parallel attention pipelines by a least-loaded
scheduler over their KV lengths (scan least_loaded), so long requests spread out instead of
piling up on one region. Each region reads only its requests' live cache tiles, masks the
tail of the last tile and runs a two-pass softmax with the scores and V tiles buffered on
chip; results are written back at each request's row.
"""

from dsl import step


def kernel(q, k_cache, v_cache, kv_len, regions=4, tile_kv=16):
    B, R, D = q.shape
    lens = step.linear_offchip_load(kv_len, (1, 1), shape=(B,))  # [B] of int [1, 1]
    l_sched, l_data, l_idx = step.copy(lens, 3)
    s_q, s_len, s_req = step.copy(
        step.scan(l_sched, step.fn.least_loaded(regions=regions), rank=1), 3
    )
    ones = step.map(l_idx, step.fn.affine_index(scale=0, offset=1))
    request = step.map(step.scan(ones, "add", rank=1), step.fn.affine_index(offset=-1))
    queries = step.linear_offchip_load(q, (R.value, D.value), shape=(B,))
    q_parts = step.partition(queries, s_q, regions)
    len_parts = step.partition(l_data, s_len, regions)
    req_parts = step.partition(request, s_req, regions)
    stores = []
    for r in range(regions):
        q_r = step.assume_shape(q_parts[r], len_parts[r].shape)  # same requests, same count
        req_r = step.assume_shape(req_parts[r], len_parts[r].shape)
        stores.append(attend(q_r, len_parts[r], req_r, k_cache, v_cache, tile_kv))
    return stores


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
    q_s = step.map(q_r, step.fn.scale(factor=D**-0.5))
    scores = step.map([step.expand(q_s, a_q), keys], step.fn.matmul(transpose_b=True), compute=2)
    s1, s2 = step.copy(step.map([scores, valid], step.fn.mask_after()))
    row_max = step.accum(step.map(s1, "row_max"), "max", rank=1)  # [n] of [R, 1]
    again, ref = step.copy(step.streamify(step.bufferize(s2, rank=1)))
    p1, p2 = step.copy(step.map(step.map([again, step.expand(row_max, ref)], "sub"), "exp"))
    total = step.accum(step.map(p1, "row_sum"), "add", rank=1)
    v_again = step.streamify(step.bufferize(values, rank=1))
    weighted = step.accum([p2, v_again], "matmul", rank=1, compute=2)  # [n] of [R, D]
    return step.random_offchip_store(step.map([weighted, total], "div"), req_c, "out")
