"""Language gaps closed for issue 16: reading a static dim's value, and the float32
infinities as constants (the identities of max and min) in strict-JSON IR."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dsl import dae
from dsl.errors import ProgramError, ValidationError
from interpreter.dae import BACKEND
from tests.dsl.dae.helpers import eb_signature


def _max_kernel(offsets, indices, table, **params):
    """Bag max with -inf as the start value: an empty bag stays -inf (the identity), a bag
    of very negative rows gets its true max."""
    out = dae.output("out")
    D = out.shape[-1]
    assert table.shape[1].value == int(D) == 4  # static dims are readable
    with dae.loop(1, offsets.shape[0]) as end:
        lo = dae.load(offsets, end - 1)
        hi = dae.load(offsets, end)
        with dae.loop(lo, hi) as item:
            idx = dae.load(indices, item)
            with dae.loop(0, D, lanes=8) as col:
                x = dae.load(table, idx, col)

            @dae.callback(col, "end", end - 1, dae.buffer(x))
            def add_row(b, row):
                dae.accumulate(out, (b, dae.arange(D)), row, fn="max")

        @dae.callback(item, "beg", end - 1)
        def init(b):
            dae.store(out, (b, dae.arange(D)), float("-inf"))

    return out


def test_minus_inf_is_a_constant_in_strict_json_and_runs_as_the_max_identity():
    ir = dae.trace(_max_kernel, eb_signature(d=4, n=3))
    text = json.dumps(ir, allow_nan=False)  # the sandbox's own encoding
    assert '"-inf"' in text
    table = -np.arange(1, 13, dtype=np.float32).reshape(3, 4) * 1e37
    offsets = np.array([0, 2, 2, 3], dtype=np.int64)
    indices = np.array([2, 1, 2], dtype=np.int64)
    out = {"out": np.full((3, 4), np.nan, dtype=np.float32)}
    dims = {"B": 3, "NOFF": 4, "NNZ": 3, "N": 3, "D": 4}
    BACKEND.execute(
        BACKEND.load(json.loads(text)),
        {"offsets": offsets, "indices": indices, "table": table},
        out,
        dims,
    )
    np.testing.assert_array_equal(out["out"][0], table[1])  # max of rows 2 and 1
    assert np.isneginf(out["out"][1]).all()  # empty bag: the identity
    np.testing.assert_array_equal(out["out"][2], table[2])


def test_nan_and_raw_float_infinities_stay_refused():
    ir = dae.trace(_max_kernel, eb_signature(d=4, n=3))
    const = next(op for case in ir["cases"] for op in case["ops"] if op.get("value") == "-inf")
    const["value"] = float("-inf")  # not strict JSON: only the string form is accepted
    with pytest.raises(ValidationError, match='finite and within .*"inf" / "-inf"'):
        BACKEND.load(ir)

    def nan_kernel(offsets, indices, table, **params):
        out = dae.output("out")
        with dae.loop(0, out.shape[0]) as b:

            @dae.callback(b, "ite", b)
            def fill(i):
                dae.store(out, (i, dae.arange(out.shape[1])), float("nan"))

        return out

    with pytest.raises(ProgramError, match="finite"):
        dae.trace(nan_kernel, eb_signature(d=4, n=3))


def test_a_symbolic_dim_has_no_value_to_read():
    def kernel(offsets, indices, table, **params):
        return offsets.shape[0].value

    with pytest.raises(ProgramError, match="dim 'NOFF' is symbolic"):
        dae.trace(kernel, eb_signature())
