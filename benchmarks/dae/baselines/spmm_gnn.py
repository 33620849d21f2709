from dsl import dae


def kernel(rowptr, colidx, values, x, **params):
    """spmm_gnn: O0, naive decoupled."""
    out = dae.output("out")
    D = out.shape[-1]
    with dae.loop(1, rowptr.shape[0]) as end:  # offsets: one per segment + 1
        seg = end - 1
        lo = dae.load(rowptr, seg)
        hi = dae.load(rowptr, end)
        with dae.loop(0, D) as zcol:
            @dae.callback(zcol, "ite", seg, zcol)
            def init(s, d):
                dae.store(out, (s, d), 0.0)
        with dae.loop(lo, hi) as item:
            idx = dae.load(colidx, item)
            w = dae.load(values, item)
            with dae.loop(0, D) as col:
                x = dae.load(x, idx, col)
                @dae.callback(col, "ite", seg, col, x, w)
                def element(r, d, v0, wt):
                    dae.accumulate(out, (r, d), v0 * wt, fn="add")
    return out
