"""Sparse inputs: a scipy.sparse matrix or `Coords` gives the fibertree a dense array gives
(duplicates summed, zeros dropped, any level formats, mode order and block size), and a
simulation from it the same report; bad coordinates fail in one line naming the input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import sam
from dsl.sam.ir import make_tensor
from interpreter.errors import ExecutionError
from interpreter.sam import BACKEND
from interpreter.sam.fibertree import Fibertree
from interpreter.sam.inputs import Coords, fibertree_of
from interpreter.sam.simulate import simulate
from interpreter.targets import load_target
from tests.interpreter.sam import programs as P


def same_tree(a: Fibertree, b: Fibertree) -> None:
    assert a.sizes == b.sizes and a.positions == b.positions
    for x, y in zip(a.segs + a.crds, b.segs + b.crds, strict=True):
        assert (x is None and y is None) or np.array_equal(x, y)
    np.testing.assert_array_equal(a.vals, b.vals)


@st.composite
def sparse_case(draw):
    """A tensor declaration and coordinates with duplicates and explicit zeros."""
    rank = draw(st.integers(1, 3))
    shape = draw(st.lists(st.integers(1, 7), min_size=rank, max_size=rank))
    levels = draw(st.lists(st.sampled_from(["dense", "compressed"]), min_size=rank, max_size=rank))
    order = draw(st.permutations(range(rank)))
    block = draw(st.sampled_from([1, 2, 3])) if rank == 2 else 1
    nnz = draw(st.integers(0, 25))
    idx = np.array(
        [[draw(st.integers(0, n - 1)) for n in shape] for _ in range(nnz)], dtype=np.int64
    ).reshape(nnz, rank)
    vals = np.array([draw(st.sampled_from([0.0, 1.0, -2.5, 3.0])) for _ in range(nnz)])
    decl = make_tensor("A", "input", shape, levels, list(order), block)
    return decl, idx, vals


@settings(max_examples=60, deadline=None)
@given(sparse_case())
def test_coords_give_the_dense_arrays_fibertree(case):
    decl, idx, vals = case
    dense = np.zeros(decl.shape)
    np.add.at(dense, tuple(idx.T), vals)
    same_tree(fibertree_of(Coords(idx, vals), decl, {}), Fibertree.from_dense(dense, decl, {}))


@pytest.mark.parametrize("fmt", ["csr", "dcsr", "dcsc", "dense"])
@pytest.mark.parametrize("kind", [sp.csr_matrix, sp.csc_array, sp.coo_matrix])
def test_scipy_matrices_give_the_dense_arrays_fibertree(fmt, kind):
    rng = np.random.default_rng(5)
    integers = lambda k: rng.integers(1, 5, k).astype(float)  # noqa: E731  (exact sums)
    a = sp.random(9, 6, 0.3, random_state=rng, format="coo", data_rvs=integers)
    dup = sp.coo_matrix((np.r_[a.data, 1.0, -1.0], (np.r_[a.row, 0, 0], np.r_[a.col, 0, 0])))
    decl = make_tensor("A", "input", [9, 6], fmt, None, 1)
    same_tree(fibertree_of(kind(dup), decl, {}), Fibertree.from_dense(dup.toarray(), decl, {}))


def test_a_sparse_vector():
    decl = make_tensor("c", "input", [5], "compressed", None, 1)
    vec = sp.coo_array(np.array([0.0, 2.0, 0.0, 0.0, 1.0]))
    tree = fibertree_of(vec, decl, {})
    assert tree.crds[0].tolist() == [1, 4] and tree.vals.tolist() == [2.0, 1.0]


def test_simulating_from_a_scipy_matrix_gives_the_dense_runs_report():
    rng = np.random.default_rng(8)
    B = sp.random(40, 30, 0.2, random_state=rng, format="csr")
    c = rng.uniform(0.5, 1.5, 30)
    sig = P.signature([("B", ["N", "M"], "csr"), ("c", ["M"], "dense")], [("y", ["N"])])
    program = BACKEND.load(sam.trace(P.spmv_rows, sig))
    dims, target = {"N": 40, "M": 30}, load_target("sam_comal_hbm")
    dense = simulate(program, {"B": B.toarray(), "c": c}, dims, target)
    sparse = simulate(program, {"B": B, "c": c}, dims, target)
    assert sparse.to_json() == dense.to_json()
    y = np.zeros(40)
    BACKEND.execute(program, {"B": B, "c": c}, {"y": y}, dims)
    np.testing.assert_allclose(y, B @ c)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (sp.csr_matrix((3, 4)), r"input 'A' has shape \(3, 4\), expected \(4, 3\)"),
        (Coords(np.array([[0, 3]]), np.array([1.0])), r"input 'A': a coordinate lies outside"),
        (Coords(np.array([[0.0, 1.0]]), np.array([1.0])), r"must be integers of shape \(nnz, 2\)"),
        (Coords(np.array([[0, 1]]), np.array([1.0, 2.0])), r"1 coordinates but values of shape"),
    ],
)
def test_bad_sparse_inputs_fail_in_one_line(value, message):
    decl = make_tensor("A", "input", [4, 3], "csr", None, 1)
    with pytest.raises(ExecutionError, match=message) as err:
        fibertree_of(value, decl, {})
    assert "\n" not in str(err.value)


def test_huge_modes_whose_linear_index_would_overflow():
    """2^24 per mode, rank 3: the rows are sorted column by column instead."""
    n = 1 << 24
    decl = make_tensor("T", "input", [n, n, n], "compressed", None, 1)
    idx = np.array([[5, 1, n - 1], [0, 9, 9], [5, 1, n - 1], [5, 0, 3]])
    tree = fibertree_of(Coords(idx, np.array([1.0, 2.0, 3.0, 4.0])), decl, {})
    assert [c.tolist() for c in tree.crds] == [[0, 5], [9, 0, 1], [9, 3, n - 1]]
    assert tree.vals.tolist() == [2.0, 4.0, 4.0]
