"""Data-dependent programs end to end: ragged loads driven by integer inputs, greedy
dispatch to parallel regions, and eager_merge following simulated arrival order."""

from __future__ import annotations

import numpy as np

from dsl import step
from interpreter.step import BACKEND
from interpreter.step.sim import run_timed
from tests.dsl.step.helpers import signature


def kv_sum(kv, lens, t=4):
    """y[b] = sum of the first lens[b] rows of kv[b] (lens multiple of t): tile addresses
    from the lengths, a ragged random load, an accum over each request's tiles."""
    B, L, D = kv.shape
    per = L.value // t
    l1, l2 = step.copy(step.linear_offchip_load(lens, (1, 1), shape=(B,)))
    count = step.map(l1, step.fn.ceil_div(divisor=t))
    # start tile of request b is b * per: a running sum of `per`, minus one `per`
    step_per = step.map(l2, step.fn.affine_index(scale=0, offset=per))
    start = step.map(step.scan(step_per, "add", rank=1), step.fn.affine_index(offset=-per))
    addr = step.flat_map(step.map([start, count], "concat_cols"), "range")  # [B, r]
    tiles = step.random_offchip_load(kv, addr, (t, D))
    rows = step.map(step.accum(tiles, "add", rank=1), "col_sum")  # [B] of [1, D]
    return step.linear_offchip_store(rows, "y")


def test_ragged_kv_sum_matches_numpy_including_an_empty_request() -> None:
    rng = np.random.default_rng(0)
    b, length, d = 6, 16, 8
    kv = rng.standard_normal((b, length, d)).astype(np.float32)
    lens = np.array([4, 16, 0, 8, 12, 4], dtype=np.int64)
    sig = signature(
        {"kv": ("float32", ["B", length, d]), "lens": ("int64", ["B"])},
        {"y": ("float32", ["B", d])},
        {"B": None},
    )
    program = BACKEND.load(step.trace(kv_sum, sig))
    out = {"y": np.full((b, d), np.nan, np.float32)}
    BACKEND.execute(program, {"kv": kv, "lens": lens}, out, {"B": b})
    want = np.stack([kv[i, :n].sum(axis=0) for i, n in enumerate(lens)])
    np.testing.assert_allclose(out["y"], want, rtol=1e-5, atol=1e-5)
    report = BACKEND.simulate(program, {"kv": kv, "lens": lens}, {"B": b}, {"name": "step_default"})
    # exactly the tiles of the requests' lengths are read: 44 rows of 8 floats + the lengths
    assert report.metrics["offchip_read_bytes"] == 44 * d * 4 + b * 8


def dispatch(work, x, regions=2):
    """Greedy dispatch of rows to `regions` parallel regions by their work, then back."""
    sel_a, sel_b = (
        step.scan(
            step.linear_offchip_load(work, (1, 1), shape=(work.shape[0],)),
            step.fn.least_loaded(regions=regions),
            rank=1,
        )
        for _ in range(2)
    )
    rows = step.linear_offchip_load(x, (1, x.shape[1]), shape=(x.shape[0],))
    parts = step.partition(rows, sel_a, regions)
    done = [step.map(p, step.fn.scale(factor=float(i + 1))) for i, p in enumerate(parts)]
    y = step.reassemble(done, sel_b)  # [B, r]
    return step.linear_offchip_store(step.accum(y, "add", rank=1), "y")


def test_least_loaded_dispatch_routes_by_work() -> None:
    work = np.array([5, 1, 1, 4, 2], dtype=np.int64)
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    sig = signature(
        {"work": ("int64", ["B"]), "x": ("float32", ["B", 2])},
        {"y": ("float32", ["B", 2])},
        {"B": None},
    )
    program = BACKEND.load(step.trace(dispatch, sig))
    out = {"y": np.full((5, 2), np.nan, np.float32)}
    BACKEND.execute(program, {"work": work, "x": x}, out, {"B": 5})
    # loads: r0 5 | r1 1, 2, 6 (1+1+4), then 2 -> r0 has 5 < 6: region 0
    region = np.array([0, 1, 1, 1, 0])
    np.testing.assert_allclose(out["y"], x * (region + 1)[:, None])


def merged(a, b):
    """a's tiles go through two slow exps, b's straight to the merge."""
    slow = step.flatten(step.map(step.map(step.linear_offchip_load(a, (64, 64)), "exp"), "exp"))
    fast = step.flatten(step.linear_offchip_load(b, (64, 64)))
    data, sel = step.eager_merge([slow, fast])
    order = step.map(step.map(sel, "selector_to_index"), step.fn.cast(dtype="float32"))
    return step.linear_offchip_store(data, "y"), step.linear_offchip_store(order, "order")


def test_eager_merge_follows_arrival_order() -> None:
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((64, 128)).astype(np.float32) for _ in range(2))
    sig = signature(
        {"a": ("float32", [64, 128]), "b": ("float32", [64, 128])},
        {"y": ("float32", [64, 256]), "order": ("float32", [1, 4])},
    )
    program = BACKEND.load(step.trace(merged, sig))
    ctx, _, _, _ = run_timed(program, {"a": a, "b": b}, {}, {"name": "step_default"})
    merge = next(n.id for n in program.nodes if n.op == "eager_merge")
    assert ctx.merge_order[merge].tolist() == [1, 1, 0, 0]  # b's tiles arrive first
    out = {"y": np.zeros((64, 256), np.float32), "order": np.zeros((1, 4), np.float32)}
    BACKEND.execute(program, {"a": a, "b": b}, out, {})
    assert out["order"].tolist() == [[1.0, 1.0, 0.0, 0.0]]
    np.testing.assert_allclose(out["y"][:, :128], b)
    np.testing.assert_allclose(out["y"][:, 128:], np.exp(np.exp(a)), rtol=1e-5)
