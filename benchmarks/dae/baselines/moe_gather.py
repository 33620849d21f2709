from dsl import dae


def kernel(expert_offsets, token_ids, x, **params):
    """moe_gather: O0, naive decoupled."""
    out = dae.output("out")
    D = out.shape[-1]
    with dae.loop(1, expert_offsets.shape[0]) as end:  # offsets: one per segment + 1
        seg = end - 1
        lo = dae.load(expert_offsets, seg)
        hi = dae.load(expert_offsets, end)
        with dae.loop(lo, hi) as item:
            idx = dae.load(token_ids, item)
            with dae.loop(0, D) as col:
                x = dae.load(x, idx, col)
                @dae.callback(col, "ite", item, col, x)
                def element(r, d, v0):
                    dae.store(out, (r, d), v0)
    return out
