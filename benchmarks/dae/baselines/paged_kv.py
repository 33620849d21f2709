from dsl import dae


def kernel(block_offsets, block_ids, kv_cache, **params):
    """paged_kv: O0, naive decoupled."""
    out = dae.output("out")
    D = out.shape[-1]
    BS = kv_cache.shape[1]  # slots (embeddings) per block
    with dae.loop(1, block_offsets.shape[0]) as end:  # offsets: one per segment + 1
        seg = end - 1
        lo = dae.load(block_offsets, seg)
        hi = dae.load(block_offsets, end)
        with dae.loop(lo, hi) as item:
            idx = dae.load(block_ids, item)
            with dae.loop(0, BS) as slot:
                with dae.loop(0, D) as col:
                    x = dae.load(kv_cache, idx, slot, col)
                    @dae.callback(col, "ite", item * BS + slot, col, x)
                    def element(r, d, v0):
                        dae.store(out, (r, d), v0)
    return out
