"""End-to-end functional runs: trace a kernel, load its IR, execute it, compare with numpy
on random matrices of several shapes and densities (empty rows, empty matrices included)."""

from __future__ import annotations

import numpy as np
import pytest

from dsl import sam
from interpreter.errors import ExecutionError
from interpreter.sam import BACKEND
from interpreter.sam.simulate import simulate
from interpreter.targets import load_target
from tests.interpreter.sam import programs as P

SHAPES = [(1, 1), (5, 7), (12, 9), (30, 30)]
DENSITIES = [0.0, 0.15, 0.5, 1.0]


def sparse(rng, shape, density):
    a = rng.uniform(0.5, 1.5, shape) * (rng.random(shape) < density)
    return a


def run(kernel, sig, inputs, dims):
    program = BACKEND.load(sam.trace(kernel, sig))
    outs = {
        o["name"]: np.full([dims[d] if isinstance(d, str) else d for d in o["shape"]], np.nan)
        for o in sig["outputs"]
    }
    BACKEND.execute(program, inputs, outs, dims)
    return program, outs


@pytest.mark.parametrize("fmt", ["csr", "dcsr"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("density", DENSITIES)
def test_spmv_rows(fmt, shape, density):
    rng = np.random.default_rng(hash((fmt, shape, density)) % 2**32)
    B, c = sparse(rng, shape, density), rng.uniform(-1, 1, shape[1])
    sig = P.signature([("B", ["N", "M"], fmt), ("c", ["M"], "dense")], [("y", ["N"])])
    _, out = run(P.spmv_rows, sig, {"B": B, "c": c}, {"N": shape[0], "M": shape[1]})
    np.testing.assert_allclose(out["y"], B @ c, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("density", [0.0, 0.3, 1.0])
def test_spmv_intersect_with_sparse_vector(shape, density):
    rng = np.random.default_rng(7)
    B, c = sparse(rng, shape, density), sparse(rng, shape[1], 0.5)
    sig = P.signature([("B", ["N", "M"], "csr"), ("c", ["M"], "compressed")], [("y", ["N"])])
    _, out = run(P.spmv_intersect, sig, {"B": B, "c": c}, {"N": shape[0], "M": shape[1]})
    np.testing.assert_allclose(out["y"], B @ c, atol=1e-12)


@pytest.mark.parametrize("out_format", ["csr", "dcsr"])
@pytest.mark.parametrize("seed", range(4))
def test_gustavson(out_format, seed):
    rng = np.random.default_rng(seed)
    n, k, m = rng.integers(1, 15, 3)
    B, C = sparse(rng, (n, k), 0.3), sparse(rng, (k, m), 0.3)
    sig = P.signature(
        [("B", ["N", "K"], "csr"), ("C", ["K", "M"], "csr")],
        [("X", ["N", "M"])],
        out_format=out_format,
    )
    _, out = run(P.gustavson, sig, {"B": B, "C": C}, {"N": n, "K": k, "M": m})
    np.testing.assert_allclose(out["X"], B @ C, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_outer_product_and_elementwise(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 20))
    B, C = sparse(rng, (n, n), 0.2), sparse(rng, (n, n), 0.2)
    dims = {"N": n}
    sig = P.signature([("B", ["N", "N"], "dcsc"), ("C", ["N", "N"], "dcsr")], [("X", ["N", "N"])])
    _, out = run(P.outer_product, sig, {"B": B, "C": C}, dims)
    np.testing.assert_allclose(out["X"], B @ C, atol=1e-12)
    sig = P.signature([("B", ["N", "N"], "dcsr"), ("C", ["N", "N"], "dcsr")], [("X", ["N", "N"])])
    _, out = run(P.elemadd, sig, {"B": B, "C": C}, dims)
    np.testing.assert_allclose(out["X"], B + C)
    _, out = run(P.elemmul_dropped, sig, {"B": B, "C": C}, dims)
    np.testing.assert_allclose(out["X"], B * C)


def test_unfused_pipeline_through_an_intermediate():
    rng = np.random.default_rng(3)
    B, c = sparse(rng, (9, 6), 0.4), rng.uniform(-1, 1, 6)
    sig = P.signature([("B", ["N", "M"], "csr"), ("c", ["M"], "dense")], [("y", ["N"])])
    program, out = run(P.relu_spmv_unfused, sig, {"B": B, "c": c}, {"N": 9, "M": 6})
    np.testing.assert_allclose(out["y"], np.maximum(B @ c, 0), atol=1e-12)
    assert [g.name for g in program.graphs] == ["spmv", "relu"]
    report = simulate(program, {"B": B, "c": c}, {"N": 9, "M": 6}, load_target("sam_comal"))
    assert report.metrics["graphs"] == 2
    assert report.metrics["intermediate_writes"] == 9 and report.metrics["intermediate_reads"] == 9


@pytest.mark.parametrize("lanes", [2, 3])
@pytest.mark.parametrize("shape", [(1, 4), (7, 5), (16, 3)])
def test_parallel_lanes(lanes, shape):
    rng = np.random.default_rng(lanes)
    B, c = sparse(rng, shape, 0.3), rng.uniform(-1, 1, shape[1])
    dims = {"N": shape[0], "M": shape[1]}
    sig = P.signature(
        [("B", ["N", "M"], "csr"), ("c", ["M"], "dense")], [("y", ["N"])], lanes=lanes
    )
    _, out = run(P.spmv_parallel, sig, {"B": B, "c": c}, dims)
    np.testing.assert_allclose(out["y"], B @ c, atol=1e-12)
    for fmt in ("csr", "dcsr"):
        sig = P.signature(
            [("B", ["N", "M"], fmt)], [("X", ["N", "M"])], lanes=lanes, out_format=fmt
        )
        _, out = run(P.copy_matrix_parallel, sig, {"B": B}, dims)
        np.testing.assert_array_equal(out["X"], B)


def test_parallel_lanes_are_faster():
    rng = np.random.default_rng(0)
    B, c = sparse(rng, (64, 64), 0.3), rng.uniform(-1, 1, 64)
    dims, tgt = {"N": 64, "M": 64}, load_target("sam_comal")
    cycles = []
    for kernel, params in ((P.spmv_rows, {}), (P.spmv_parallel, {"lanes": 4})):
        sig = P.signature(
            [("B", ["N", "M"], "csr"), ("c", ["M"], "dense")], [("y", ["N"])], **params
        )
        program = BACKEND.load(sam.trace(kernel, sig))
        cycles.append(simulate(program, {"B": B, "c": c}, dims, tgt).cycles)
    assert cycles[1] < cycles[0] / 2


@pytest.mark.parametrize("block", [2, 4])
def test_block_sparse_matmuls(block):
    rng = np.random.default_rng(block)
    A = np.kron(rng.random((3, 4)) < 0.5, np.ones((block, block))) * rng.random(
        (3 * block, 4 * block)
    )
    A = A[:-1, :]  # a dim that is not a multiple of the block
    Bm = sparse(rng, (4 * block, 5), 0.5)
    sig = P.signature(
        [("A", ["N", "K"], "dense"), ("B", ["K", "M"], "dense")], [("X", ["N", "M"])], block=block
    )
    dims = {"N": A.shape[0], "K": A.shape[1], "M": 5}
    _, out = run(P.block_gustavson, sig, {"A": A, "B": Bm}, dims)
    np.testing.assert_allclose(out["X"], A @ Bm, atol=1e-12)
    Bt = np.ascontiguousarray(Bm.T)
    sig = P.signature(
        [("A", ["N", "K"], "dcsr"), ("B", ["M", "K"], "dcsr")], [("X", ["N", "M"])], block=block
    )
    program, out = run(P.block_inner, sig, {"A": A, "B": Bt}, dims)
    np.testing.assert_allclose(out["X"], A @ Bm, atol=1e-12)
    report = simulate(program, {"A": A, "B": Bt}, dims, load_target("sam_comal"))
    assert report.metrics["flops"] > 0 and report.cycles > 0


def test_normalize_rows():
    rng = np.random.default_rng(5)
    B = sparse(rng, (6, 8), 0.4)
    B[2] = 0
    sig = P.signature([("B", ["N", "M"], "csr")], [("X", ["N", "M"])])
    _, out = run(P.normalize_rows, sig, {"B": B}, {"N": 6, "M": 8})
    sums = B.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        out["X"], np.divide(B, sums, out=np.zeros_like(B), where=sums != 0), atol=1e-12
    )


@pytest.mark.parametrize("fmt", ["csr", "dcsr"])
def test_row_sum_recomputed_under_j_with_empty_rows(fmt):
    """The order i, j, j2 reduces a phantom for every empty row (csr) and for an all-empty
    matrix; the ALU that divides by the sum must drop those values, not misalign."""
    rng = np.random.default_rng(5)
    for B in (sparse(rng, (6, 5), 0.4), np.zeros((6, 5))):
        B[[0, 3]] = 0
        sig = P.signature([("B", ["N", "M"], fmt)], [("X", ["N", "M"])])
        _, out = run(P.normalize_rows_recomputed, sig, {"B": B}, {"N": 6, "M": 5})
        sums = B.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(
            out["X"], np.divide(B, sums, out=np.zeros_like(B), where=B != 0), atol=1e-12
        )


@pytest.mark.parametrize(
    "fmt", [["dense", "compressed", "compressed"], "csf", ["compressed", "dense", "compressed"]]
)
def test_rank3_copy_with_empty_slices(fmt):
    """Empty outer fibers make phantom fibers deeper down; the writers must drop them."""
    rng = np.random.default_rng(11)
    T = sparse(rng, (4, 3, 5), 0.3)
    T[1] = 0
    T[3, 0] = 0

    def copy3(T, **params):
        X = sam.output("X", format=fmt)
        i, r0 = T.scan(0)
        j, r1 = T.scan(1, r0)
        k, r2 = T.scan(2, r1)
        X.write_level(0, i)
        X.write_level(1, j)
        X.write_level(2, k)
        X.write_vals(T.load(r2))

    sig = P.signature([("T", [4, 3, 5], fmt)], [("X", [4, 3, 5])])
    _, out = run(copy3, sig, {"T": T}, {})
    np.testing.assert_array_equal(out["X"], T)


def test_transposed_output_and_input():
    rng = np.random.default_rng(2)
    B = sparse(rng, (5, 4), 0.5)

    def transpose(B, **params):
        X = sam.output("X", format="csc")  # storage (j, i) of X = (i, j) of B
        i, i_ref = B.scan(0)
        j, j_ref = B.scan(1, i_ref)
        X.write_level(0, i)
        X.write_level(1, j)
        X.write_vals(B.load(j_ref))

    sig = P.signature([("B", ["N", "M"], "csr")], [("X", ["M", "N"])])
    _, out = run(transpose, sig, {"B": B}, {"N": 5, "M": 4})
    np.testing.assert_array_equal(out["X"], B.T)


def test_writer_mismatch_is_an_execution_error():
    def bad(B, **params):
        X = sam.output("X", format="csr")
        i, i_ref = B.scan(0)
        i, i2 = sam.broadcast(i)
        _, j_ref = B.scan(1, i_ref)
        X.write_level(0, i)
        X.write_level(1, i2)  # the row stream is not one fiber per row
        X.write_vals(B.load(j_ref))

    sig = P.signature([("B", ["N", "M"], "csr")], [("X", ["N", "M"])])
    program = BACKEND.load(sam.trace(bad, sig))
    B = np.eye(3)
    with pytest.raises(ExecutionError, match="writers of 'X'"):
        BACKEND.execute(program, {"B": B}, {"X": np.zeros((3, 3))}, {"N": 3, "M": 3})


def test_misaligned_alu_inputs_name_the_node():
    def bad(B, c, **params):
        y = sam.output("y", format="dense")
        i, i_ref = B.scan(0)
        _, j_ref = B.scan(1, i_ref)
        _, c_ref = c.scan(0)
        y.write_level(0, i)
        y.write_vals(sam.reduce(sam.alu("mul", B.load(j_ref), c.load(c_ref))))

    sig = P.signature([("B", ["N", "M"], "csr"), ("c", ["M"], "dense")], [("y", ["N"])])
    program = BACKEND.load(sam.trace(bad, sig))
    with pytest.raises(ExecutionError, match=r"node \d+ \(alu\): inputs"):
        BACKEND.execute(
            program, {"B": np.eye(3), "c": np.ones(3)}, {"y": np.zeros(3)}, {"N": 3, "M": 3}
        )


def test_scalar_values_into_a_block_output_fail_cleanly():
    def bad(B, **params):
        X = sam.output("X", format="csr", block=2)
        i, i_ref = B.scan(0)
        j, j_ref = B.scan(1, i_ref)
        X.write_level(0, i)
        X.write_level(1, j)
        X.write_vals(B.load(j_ref))

    sig = P.signature([("B", ["N", "M"], "csr")], [("X", ["N", "M"])])
    program = BACKEND.load(sam.trace(bad, sig))
    with pytest.raises(ExecutionError, match="writers of 'X'"):
        BACKEND.execute(program, {"B": np.eye(4)}, {"X": np.zeros((4, 4))}, {"N": 4, "M": 4})


def test_block_values_into_a_scalar_output_fail_cleanly():
    def bad(B, **params):
        B = B.with_layout(block=2)
        X = sam.output("X", format="dcsr")
        i, i_ref = B.scan(0)
        j, j_ref = B.scan(1, i_ref)
        X.write_level(0, i)
        X.write_level(1, j)
        X.write_vals(B.load(j_ref))

    sig = P.signature([("B", ["N", "M"], "dcsr")], [("X", ["N", "M"])])
    program = BACKEND.load(sam.trace(bad, sig))
    with pytest.raises(ExecutionError, match="do not form a .* tensor with block 1"):
        BACKEND.execute(program, {"B": np.eye(4)}, {"X": np.zeros((4, 4))}, {"N": 4, "M": 4})
