from dsl import dae


def kernel(offsets, indices, features, **params):
    """mp_max_empty: O0, naive decoupled."""
    out = dae.output("out")
    D = out.shape[-1]
    with dae.loop(1, offsets.shape[0]) as end:  # offsets: one per segment + 1
        seg = end - 1
        lo = dae.load(offsets, seg)
        hi = dae.load(offsets, end)
        size = hi - lo
        with dae.loop(0, D) as zcol:
            @dae.callback(zcol, "ite", seg, zcol)
            def init(s, d):
                dae.store(out, (s, d), -3e+38)
        with dae.loop(lo, hi) as item:
            idx = dae.load(indices, item)
            with dae.loop(0, D) as col:
                x = dae.load(features, idx, col)
                @dae.callback(col, "ite", seg, col, x)
                def element(r, d, v0):
                    dae.accumulate(out, (r, d), v0, fn="max")
        with dae.loop(0, D) as fcol:
            @dae.callback(fcol, "ite", seg, fcol, size)
            def finish(s, d, n):
                dae.accumulate(out, (s, d), dae.where(n > 0, -3e+38, 0.0), fn="max")
    return out
