from dsl import dae


def kernel(offsets, indices, table, **params):
    """eb_padded: O0, naive decoupled."""
    out = dae.output("out")
    D = out.shape[-1]
    with dae.loop(1, offsets.shape[0]) as end:  # offsets: one per segment + 1
        seg = end - 1
        lo = dae.load(offsets, seg)
        hi = dae.load(offsets, end)
        with dae.loop(0, D) as zcol:
            @dae.callback(zcol, "ite", seg, zcol)
            def init(s, d):
                dae.store(out, (s, d), 0.0)
        with dae.loop(lo, hi) as item:
            idx = dae.load(indices, item)
            with dae.loop(0, D) as col:
                x = dae.load(table, idx, col)
                @dae.callback(col, "ite", seg, col, x, idx)
                def element(r, d, v0, p):
                    dae.accumulate(out, (r, d), dae.where(dae.not_equal(p, 0), v0, 0.0), fn="add")
    return out
