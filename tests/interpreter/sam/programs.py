"""SAM kernels shared by the interpreter tests, each with the signature it expects."""

from __future__ import annotations

from dsl import sam


def signature(
    inputs: list[tuple[str, list, object]], outputs: list[tuple[str, list]], **params
) -> dict:
    return {
        "inputs": [{"name": n, "dtype": "float32", "shape": s, "format": f} for n, s, f in inputs],
        "outputs": [{"name": n, "dtype": "float32", "shape": s} for n, s in outputs],
        "dims": {},
        "params": params,
    }


def copy_vector(c, **params):
    y = sam.output("y", format="dense")
    i, ref = c.scan(0)
    y.write_level(0, i)
    y.write_vals(c.load(ref))


def row_sums(B, **params):
    y = sam.output("y", format="dense")
    i, i_ref = B.scan(0)
    _, j_ref = B.scan(1, i_ref)
    y.write_level(0, i)
    y.write_vals(sam.reduce(B.load(j_ref)))


def spmv_rows(B, c, **params):
    """y(i) = sum_j B(i,j) c(j), B CSR or DCSR, c dense (located)."""
    y = sam.output("y", format=params.get("out_format", "dense"))
    i, i_ref = B.scan(0)
    i, i_rep = sam.broadcast(i)
    j, bj_ref = B.scan(1, i_ref)
    c_root = sam.repeat(sam.root(), sam.repeat_signal(i_rep))
    _, cj_ref = c.locate(0, j, c_root)
    y.write_level(0, i)
    y.write_vals(sam.reduce(sam.alu("mul", B.load(bj_ref), c.load(cj_ref))))


def spmv_parallel(B, c, **params):
    """spmv_rows with the rows dealt over `lanes` lanes and joined back."""
    y = sam.output("y", format="dense")
    i, i_ref = B.scan(0)
    i, i_order = sam.broadcast(i)
    lanes = []
    for lane_ref in sam.fork(i_ref, params["lanes"]):
        lane_ref, lane_rep = sam.broadcast(lane_ref)
        j, bj_ref = B.scan(1, lane_ref)
        c_root = sam.repeat(sam.root(), sam.repeat_signal(lane_rep))
        _, cj_ref = c.locate(0, j, c_root)
        lanes.append(sam.reduce(sam.alu("mul", B.load(bj_ref), c.load(cj_ref))))
    y.write_level(0, i)
    y.write_vals(sam.join(i_order, lanes, depth=0))


def copy_matrix_parallel(B, **params):
    """X = B with the rows forked over lanes and the column level joined at depth 1."""
    X = sam.output("X", format=params.get("out_format", "csr"))
    i, i_ref = B.scan(0)
    i, i_order, i_order2 = sam.broadcast(i, 3)
    crds, vals = [], []
    for lane_ref in sam.fork(i_ref, params["lanes"]):
        j, j_ref = B.scan(1, lane_ref)
        crds.append(j)
        vals.append(B.load(j_ref))
    X.write_level(0, i)
    X.write_level(1, sam.join(i_order, crds, depth=1))
    X.write_vals(sam.join(i_order2, vals, depth=1))


def spmv_intersect(B, c, **params):
    """y(i) = sum_j B(i,j) c(j) with c compressed: intersect j against c repeated per i."""
    y = sam.output("y", format="dense")
    i, i_ref = B.scan(0)
    i, i_rep = sam.broadcast(i)
    bj, bj_ref = B.scan(1, i_ref)
    c_root = sam.repeat(sam.root(), sam.repeat_signal(i_rep))
    cj, cj_ref = c.scan(0, c_root)
    _, b_ref, c_ref = sam.intersect((bj, bj_ref), (cj, cj_ref))
    y.write_level(0, i)
    y.write_vals(sam.reduce(sam.alu("mul", B.load(b_ref), c.load(c_ref))))


def gustavson(B, C, **params):
    """X(i,j) = sum_k B(i,k) C(k,j), order i, k, j, B and C CSR, spacc1 over k."""
    X = sam.output("X", format=params.get("out_format", "csr"))
    i, i_ref = B.scan(0)
    i, i_rep = sam.broadcast(i)
    k, bk_ref = B.scan(1, i_ref)
    c_rows = sam.repeat(sam.root(), sam.repeat_signal(i_rep))
    _, ck_ref = C.locate(0, k, c_rows)
    j, cj_ref = C.scan(1, ck_ref)
    j, j_rep = sam.broadcast(j)
    b = sam.repeat(B.load(bk_ref), sam.repeat_signal(j_rep))
    xj, xv = sam.spacc1(j, sam.alu("mul", b, C.load(cj_ref)))
    X.write_level(0, i)
    X.write_level(1, xj)
    X.write_vals(xv)


def elemadd(B, C, **params):
    X = sam.output("X", format="dcsr")
    bi, bi_ref = B.scan(0)
    ci, ci_ref = C.scan(0)
    i, b_ref, c_ref = sam.union((bi, bi_ref), (ci, ci_ref))
    bj, bj_ref = B.scan(1, b_ref)
    cj, cj_ref = C.scan(1, c_ref)
    j, bv, cv = sam.union((bj, bj_ref), (cj, cj_ref))
    X.write_level(0, i)
    X.write_level(1, j)
    X.write_vals(sam.alu("add", B.load(bv), C.load(cv)))


def elemmul_dropped(B, C, **params):
    """X = B * C (DCSR), dropping rows whose intersection is empty."""
    X = sam.output("X", format="dcsr")
    bi, bi_ref = B.scan(0)
    ci, ci_ref = C.scan(0)
    i, b_ref, c_ref = sam.intersect((bi, bi_ref), (ci, ci_ref))
    bj, bj_ref = B.scan(1, b_ref)
    cj, cj_ref = C.scan(1, c_ref)
    j, bv, cv = sam.intersect((bj, bj_ref), (cj, cj_ref))
    i, j = sam.crd_drop(i, j)
    X.write_level(0, i)
    X.write_level(1, j)
    X.write_vals(sam.alu("mul", B.load(bv), C.load(cv)))


def outer_product(B, C, **params):
    """X(i,j) = sum_k B(i,k) C(k,j), order k, i, j: B DCSC, C DCSR, spacc2 over k."""
    X = sam.output("X", format="dcsr")
    bk, bk_ref = B.scan(0)
    ck, ck_ref = C.scan(0)
    _, b_ref, c_ref = sam.intersect((bk, bk_ref), (ck, ck_ref))
    bi, bi_ref = B.scan(1, b_ref)
    bi, bi_rep = sam.broadcast(bi)
    cj, cj_ref = C.scan(1, sam.repeat(c_ref, sam.repeat_signal(bi_rep)))
    cj, cj_rep = sam.broadcast(cj)
    bval = sam.repeat(B.load(bi_ref), sam.repeat_signal(cj_rep))
    prod = sam.alu("mul", bval, C.load(cj_ref))
    held_i, cj = sam.crd_hold(bi, cj)
    xi, xj, xv = sam.spacc2(held_i, cj, prod)
    X.write_level(0, xi)
    X.write_level(1, xj)
    X.write_vals(xv)


def relu_spmv_unfused(B, c, **params):
    """y = relu(B c) as two graphs joined by a dense intermediate t."""
    t = sam.tensor("t", [B.shape[0]], "dense")
    with sam.graph("spmv"):
        i, i_ref = B.scan(0)
        i, i_rep = sam.broadcast(i)
        j, bj_ref = B.scan(1, i_ref)
        c_root = sam.repeat(sam.root(), sam.repeat_signal(i_rep))
        _, cj_ref = c.locate(0, j, c_root)
        t.write_level(0, i)
        t.write_vals(sam.reduce(sam.alu("mul", B.load(bj_ref), c.load(cj_ref))))
    with sam.graph("relu"):
        y = sam.output("y", format="dense")
        i, i_ref = t.scan(0)
        y.write_level(0, i)
        y.write_vals(sam.alu("relu", t.load(i_ref)))


def normalize_rows(B, **params):
    """X(i,j) = B(i,j) / sum_j B(i,j): a broadcast feeding paths of different delay."""
    X = sam.output("X", format="csr")
    i, i_ref = B.scan(0)
    j, j_ref = B.scan(1, i_ref)
    j, j_rep = sam.broadcast(j)
    v, v_sum = sam.broadcast(B.load(j_ref))
    total = sam.repeat(sam.reduce(v_sum), sam.repeat_signal(j_rep))
    X.write_level(0, i)
    X.write_level(1, j)
    X.write_vals(sam.alu("div", v, total))


def normalize_rows_recomputed(B, **params):
    """X(i,j) = B(i,j) / sum_j2 B(i,j2) in the order i, j, j2: the row sum is recomputed
    under every j, so an empty row leaves a phantom for the reducer (the compiler's shape)."""
    X = sam.output("X", format="dense")
    i, i_ref = B.scan(0)
    i, i_loc = sam.broadcast(i)
    _, row_ref = B.locate(0, i_loc, sam.root())
    j, j_ref = B.scan(1, i_ref)
    j, j_rep = sam.broadcast(j)
    _, j2_ref = B.scan(1, sam.repeat(row_ref, sam.repeat_signal(j_rep)))
    X.write_level(0, i)
    X.write_level(1, j)
    X.write_vals(sam.alu("div", B.load(j_ref), sam.reduce(B.load(j2_ref))))


def block_gustavson(A, B, **params):
    """X(i,j) = sum_k A(i,k) B(k,j) over b x b blocks, order i, k, j, spacc1 over k."""
    b = params["block"]
    A = A.with_layout(format="dcsr", block=b)
    B = B.with_layout(format="dcsr", block=b)
    X = sam.output("X", format="dcsr", block=b)
    i, i_ref = A.scan(0)
    i, i_rep = sam.broadcast(i)
    k, ak_ref = A.scan(1, i_ref)
    _, bk_ref = B.locate(0, k, sam.repeat(sam.root(), sam.repeat_signal(i_rep)))
    j, bj_ref = B.scan(1, bk_ref)
    j, j_rep = sam.broadcast(j)
    a = sam.repeat(A.load(ak_ref), sam.repeat_signal(j_rep))
    xj, xv = sam.spacc1(j, sam.alu("matmul", a, B.load(bj_ref)))
    X.write_level(0, i)
    X.write_level(1, xj)
    X.write_vals(xv)


def block_inner(A, B, **params):
    """X(i,j) = sum_k A(i,k) B(j,k)^T-blocks: inner product over b x b blocks with matmul_t,
    A and B (given as B(j,k), i.e. the right operand transposed) in DCSR."""
    b = params["block"]
    A = A.with_layout(block=b)
    B = B.with_layout(block=b)
    X = sam.output("X", format="dense", block=b)
    i, ai_ref = A.scan(0)
    i, i_rep = sam.broadcast(i)
    j, bj_ref = B.scan(0, sam.repeat(sam.root(), sam.repeat_signal(i_rep)))
    j, j_rep = sam.broadcast(j)
    ak, ak_ref = A.scan(1, sam.repeat(ai_ref, sam.repeat_signal(j_rep)))
    bk, bk_ref = B.scan(1, bj_ref)
    _, a_ref, b_ref = sam.intersect((ak, ak_ref), (bk, bk_ref))
    X.write_level(0, i)
    X.write_level(1, j)
    X.write_vals(sam.reduce(sam.alu("matmul_t", A.load(a_ref), B.load(b_ref))))
