from dsl import dae


def kernel(heads, relations, tails, entities, relation_table, **params):
    """kg_transe: O0, naive decoupled."""
    out = dae.output("out")
    D = out.shape[-1]
    with dae.loop(0, out.shape[0]) as seg:
        idx0 = dae.load(heads, seg)
        idx1 = dae.load(relations, seg)
        idx2 = dae.load(tails, seg)
        with dae.loop(0, D) as col:
            x0 = dae.load(entities, idx0, col)
            x1 = dae.load(relation_table, idx1, col)
            x2 = dae.load(entities, idx2, col)
            @dae.callback(col, "ite", seg, col, x0, x1, x2)
            def element(r, d, v0, v1, v2):
                dae.store(out, (r, d), v0 + v1 - v2)
    return out
