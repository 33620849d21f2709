"""Execute-side compare and select (`a < b`, `dae.equal`, `dae.where`): semantics and cost."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import dae
from interpreter.dae import BACKEND
from tests.dsl.dae.helpers import copy_signature, eb_signature
from tests.interpreter.dae.test_execute import build, random_bags, run
from tests.interpreter.dae.test_timing import TARGET as TIMED

PAD = 3


def padded_bag_sum(offsets, indices, table, **params):
    """Embedding bag sum with `padding_idx=PAD`: a padding entry's row adds nothing
    (REFERENCE.md's `dae.where` example, there with padding index 0)."""
    out = dae.output("out")
    B, D = out.shape
    with dae.loop(0, B) as bag:
        with dae.loop(dae.load(offsets, bag), dae.load(offsets, bag + 1)) as item:
            idx = dae.load(indices, item)
            with dae.loop(0, D, lanes=8) as col:
                x = dae.load(table, idx, col, contiguous=True)

            @dae.callback(col, "end", bag, idx, dae.buffer(x))
            def add_row(b, i, row):
                keep = dae.not_equal(i, PAD)
                dae.accumulate(out, (b, dae.arange(D)), dae.where(keep, row, 0.0))

        @dae.callback(item, "beg", bag)
        def init(b):
            dae.store(out, (b, dae.arange(D)), 0.0)

    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_padding_rows_add_nothing(seed):
    rng = np.random.default_rng(seed)
    inputs, dims = random_bags(rng, bags=7, n=10, d=13)  # 13: a masked tail chunk
    inputs["indices"][::2] = PAD  # plenty of padding, and bags that are all padding
    got = run(build(padded_bag_sum, eb_signature(d=13, n=10)), inputs, (7, 13), dims)
    offsets, indices, table = inputs["offsets"], inputs["indices"], inputs["table"]
    for b in range(7):
        rows = [table[i] for i in indices[offsets[b] : offsets[b + 1]] if i != PAD]
        np.testing.assert_allclose(got[b], np.sum(rows, axis=0) if rows else 0.0, rtol=1e-6)


def test_select_and_compare_cost_one_core_op_per_chunk():
    """add_row per token: dispatch 4 (first case), 3 pops, compare on scalars 1, select
    on a 16-wide row 2 chunks, accumulate 2 chunks x 2, loop over the second chunk 1: 15."""
    program = build(padded_bag_sum, eb_signature(d=16, n=10))
    rng = np.random.default_rng(0)
    inputs, dims = random_bags(rng, bags=4, n=10, d=16)
    report = BACKEND.simulate(program, inputs, dims, TIMED)
    assert report.per_op["case 0 (add_row)"]["cycles_each"] == 4 + 3 + 1 + 2 + 4 + 1
    # useful work: the compare (1), the select (16) and the accumulate (16) per row
    rows = len(inputs["indices"])
    lane_ops = report.metrics["compute_utilization"] * 8 * report.cycles
    assert lane_ops == pytest.approx(rows * 33 + 4 * 16)  # + init's stores


FNS = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "eq": dae.equal,
    "ne": dae.not_equal,
}
NUMPY = {
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "eq": np.equal,
    "ne": np.not_equal,
}


@settings(max_examples=25, deadline=None)
@given(
    fn=st.sampled_from(sorted(FNS)),
    pivot=st.integers(-3, 3),
    xs=st.lists(st.integers(-4, 4), min_size=1, max_size=9),
    swap=st.booleans(),
)
def test_compare_then_select_matches_numpy(fn, pivot, xs, swap):
    """out[i] = where(x[i] OP pivot, x[i], 100 + x[i]) (or with the sides swapped)."""

    def kernel(x, **params):
        out = dae.output("out")
        with dae.loop(0, out.shape[0]) as i:
            v = dae.load(x, i)

            @dae.callback(i, "ite", i, v)
            def put(k, value):
                cond = FNS[fn](pivot, value) if swap else FNS[fn](value, pivot)
                dae.store(out, (k,), dae.where(cond, value, value + 100))

        return out

    x = np.array(xs, dtype=np.int64)
    got = run(
        build(kernel, copy_signature(len(xs))), {"x": x}, (len(xs),), {"N": len(xs)}, np.int64
    )
    cond = NUMPY[fn](pivot, x) if swap else NUMPY[fn](x, pivot)
    np.testing.assert_array_equal(got, np.where(cond, x, x + 100))


def test_float_compare_and_mixed_select_on_vectors():
    """Vector lanes compared with a float, choosing between a float row and an int:
    out = where(x > 0.5, x, -1) per lane, the masked tail untouched."""

    def kernel(offsets, indices, table, **params):
        out = dae.output("out")
        with dae.loop(0, 2) as r:
            with dae.loop(0, 11, lanes=8) as c:
                x = dae.load(table, r, c, contiguous=True)

                @dae.callback(c, "ite", r, c, x)
                def put(row, col, v):
                    dae.store(out, (row, col), dae.where(v > 0.5, v, -1))

        return out

    table = np.linspace(0, 1, 22, dtype=np.float32).reshape(2, 11)
    inputs = {
        "offsets": np.zeros(3, dtype=np.int64),
        "indices": np.zeros(1, dtype=np.int64),
        "table": table,
    }
    dims = {"B": 2, "NOFF": 3, "NNZ": 1, "N": 2, "D": 11}
    got = run(build(kernel, eb_signature(d=11, n=2)), inputs, (2, 11), dims)
    np.testing.assert_array_equal(got, np.where(table > 0.5, table, np.float32(-1)))


@pytest.mark.parametrize("control, data", [(64, 64), (2, 3)])
def test_padded_bags_agree_with_the_reference_interpreter(control, data):
    """The one-token-at-a-time reference (tests/interpreter/dae/reference.py) computes
    compare and select its own way; both paths give the same bits."""
    from tests.interpreter.dae.test_reference import _both

    rng = np.random.default_rng(5)
    inputs, dims = random_bags(rng, bags=6, n=10, d=13)
    inputs["indices"][1::3] = PAD
    program = build(padded_bag_sum, eb_signature(d=13, n=10))
    fast, reference = _both(program, inputs, dims, (6, 13), np.float32, control, data)
    np.testing.assert_array_equal(fast, reference)
