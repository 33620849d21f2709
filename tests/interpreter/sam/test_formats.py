"""Fibertree storage round trips for every per-level format and mode order (hypothesis),
and the seg/crd arrays of the named formats against scipy."""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import sam
from dsl.sam.ir import make_tensor
from interpreter.sam import BACKEND
from interpreter.sam.fibertree import Fibertree
from tests.interpreter.sam import programs as P


@st.composite
def tensors(draw):
    rank = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    density = draw(st.sampled_from([0.0, 0.2, 0.6, 1.0]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 9, shape) * (rng.random(shape) < density)
    levels = [draw(st.sampled_from(["dense", "compressed"])) for _ in range(rank)]
    order = draw(st.permutations(range(rank)))
    return a.astype(float), levels, list(order)


@settings(max_examples=60, deadline=None)
@given(tensors())
def test_storage_round_trip(case):
    a, levels, order = case
    decl = make_tensor("T", "input", list(a.shape), levels, order, 1)
    tree = Fibertree.from_dense(a, decl, {})
    np.testing.assert_array_equal(tree.to_dense(a.shape), a)


@settings(max_examples=40, deadline=None)
@given(tensors(), st.data())
def test_scan_and_write_copy_any_format(case, data):
    """Scan every level of the input format and write the output in another format."""
    a, levels, order = case
    out_levels = [data.draw(st.sampled_from(["dense", "compressed"])) for _ in levels]

    def copy(T, **params):
        X = sam.output("X", format=out_levels, mode_order=order)
        ref = None
        for lv in range(T.rank):
            crd, ref = T.scan(lv, ref)
            X.write_level(lv, crd)
        X.write_vals(T.load(ref))

    sig = P.signature([("T", list(a.shape), levels)], [("X", list(a.shape))])
    sig["inputs"][0]["mode_order"] = order
    program = BACKEND.load(sam.trace(copy, sig))
    out = {"X": np.full(a.shape, np.nan)}
    BACKEND.execute(program, {"T": a}, out, {})
    np.testing.assert_array_equal(out["X"], a)


def test_named_formats_match_scipy():
    rng = np.random.default_rng(4)
    a = rng.random((6, 5)) * (rng.random((6, 5)) < 0.4)
    a[2] = 0
    for fmt, ref in (("csr", sp.csr_matrix(a)), ("csc", sp.csc_matrix(a))):
        decl = make_tensor("T", "input", [6, 5], fmt, None, 1)
        tree = Fibertree.from_dense(a, decl, {})
        np.testing.assert_array_equal(tree.segs[1], ref.indptr)
        np.testing.assert_array_equal(tree.crds[1], ref.indices)
        np.testing.assert_array_equal(tree.vals, ref.data)
    decl = make_tensor("T", "input", [6, 5], "dcsr", None, 1)
    tree = Fibertree.from_dense(a, decl, {})
    rows = [r for r in range(6) if a[r].any()]
    np.testing.assert_array_equal(tree.crds[0], rows)
    np.testing.assert_array_equal(tree.segs[0], [0, len(rows)])
    np.testing.assert_array_equal(np.diff(tree.segs[1]), [np.count_nonzero(a[r]) for r in rows])


def test_blocks_are_stored_when_any_entry_is_nonzero():
    a = np.zeros((5, 6))
    a[0, 0] = 1
    a[4, 5] = 2  # padded block (2, 2) of a 6x6 padding
    decl = make_tensor("T", "input", [5, 6], "dcsr", None, 2)
    tree = Fibertree.from_dense(a, decl, {})
    assert tree.sizes == (3, 3)
    coords, _ = tree.coords()
    assert [tuple(c) for c in coords.tolist()] == [(0, 0), (2, 2)]
    np.testing.assert_array_equal(tree.to_dense((5, 6)), a)
    assert list(itertools.chain(*tree.vals[1].tolist())) == [0, 2, 0, 0]  # a[4, 5] at (0, 1)
