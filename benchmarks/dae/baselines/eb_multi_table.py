from dsl import dae


def kernel(offsets_0, indices_0, table_0, offsets_1, indices_1, table_1, offsets_2, indices_2, table_2, **params):
    """eb_multi_table: O0, naive decoupled."""
    out = dae.output("out")
    D = table_0.shape[-1]
    with dae.loop(1, offsets_0.shape[0]) as end:  # offsets: one per segment + 1
        seg = end - 1
        with dae.loop(0, D) as zcol:
            @dae.callback(zcol, "ite", seg, zcol)
            def init(s, d):
                dae.store(out, (s, d), 0.0)
        lo0 = dae.load(offsets_0, seg)
        hi0 = dae.load(offsets_0, end)
        with dae.loop(lo0, hi0) as item0:
            idx = dae.load(indices_0, item0)
            with dae.loop(0, D) as col:
                x = dae.load(table_0, idx, col)
                @dae.callback(col, "ite", seg, col, x)
                def element(r, d, v0):
                    dae.accumulate(out, (r, d), v0, fn="add")
        with dae.loop(0, D) as zcol:
            @dae.callback(zcol, "ite", seg, zcol)
            def init(s, d):
                dae.store(out, (s, d + D.value), 0.0)
        lo1 = dae.load(offsets_1, seg)
        hi1 = dae.load(offsets_1, end)
        with dae.loop(lo1, hi1) as item1:
            idx = dae.load(indices_1, item1)
            with dae.loop(0, D) as col:
                x = dae.load(table_1, idx, col)
                @dae.callback(col, "ite", seg, col, x)
                def element(r, d, v0):
                    dae.accumulate(out, (r, d + D.value), v0, fn="add")
        with dae.loop(0, D) as zcol:
            @dae.callback(zcol, "ite", seg, zcol)
            def init(s, d):
                dae.store(out, (s, d + 2 * D.value), 0.0)
        lo2 = dae.load(offsets_2, seg)
        hi2 = dae.load(offsets_2, end)
        with dae.loop(lo2, hi2) as item2:
            idx = dae.load(indices_2, item2)
            with dae.loop(0, D) as col:
                x = dae.load(table_2, idx, col)
                @dae.callback(col, "ite", seg, col, x)
                def element(r, d, v0):
                    dae.accumulate(out, (r, d + 2 * D.value), v0, fn="add")
    return out
