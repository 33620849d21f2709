"""Small STeP kernels (and their signatures) used by the interpreter and simulator tests."""

from __future__ import annotations

import numpy as np

from benchmarks.perf.step_sim_throughput import moe_kernel
from dsl import step
from tests.dsl.step.helpers import signature


def gemm(a, b, tm=16, tn=16, tk=16, compute=1):
    """c = a @ b, A re-read per N tile and B per M tile."""
    M, K = a.shape
    N = b.shape[1]
    mt, nt, kt = step.cdiv(M, tm), step.cdiv(N, tn), step.cdiv(K, tk)
    a_t = step.linear_offchip_load(a, (tm, tk), shape=(mt, nt, kt), stride=(kt, 0, 1))
    b_t = step.linear_offchip_load(b, (tk, tn), shape=(mt, nt, kt), stride=(0, 1, nt))
    c = step.accum([a_t, b_t], "matmul", rank=1, compute=compute)
    return step.linear_offchip_store(c, "c")


def gemm_reuse(a, b, tm=16, tn=16, tk=16, compute=1):
    """c = a @ b with each A row-block read once and re-streamed from on-chip memory."""
    M, K = a.shape
    N = b.shape[1]
    mt, nt, kt = step.cdiv(M, tm), step.cdiv(N, tn), step.cdiv(K, tk)
    rows = step.bufferize(step.linear_offchip_load(a, (tm, tk)), rank=1)
    a_t = step.streamify(step.repeat(rows, nt))
    b_t = step.linear_offchip_load(b, (tk, tn), shape=(mt, nt, kt), stride=(0, 1, nt))
    return step.linear_offchip_store(step.accum([a_t, b_t], "matmul", rank=1, compute=compute), "c")


def gemm_signature(m: int | None, k: int, n: int, **params) -> dict:
    return signature(
        {"a": ("float32", ["M", "K"]), "b": ("float32", ["K", "N"])},
        {"c": ("float32", ["M", "N"])},
        {"M": m, "K": k, "N": n},
        params,
    )


def moe(x, ids, w1, w3, w2, tile_f=16, chunk=0, compute=1):
    """SwiGLU MoE; chunk=0: one dynamic tile per expert, else static tiles of `chunk` rows.
    The throughput benchmark's program, with test-sized defaults."""
    return moe_kernel(x, ids, w1, w3, w2, tile_f=tile_f, chunk=chunk, compute=compute)


def moe_signature(e: int, h: int, f: int, k: int, **params) -> dict:
    return signature(
        {
            "x": ("float32", ["B", h]),
            "ids": ("int64", ["B", k]),
            "w1": ("float32", [e, h, f]),
            "w3": ("float32", [e, h, f]),
            "w2": ("float32", [e, f, h]),
        },
        {"y": ("float32", ["B", h])},
        {"B": None},
        params,
    )


def moe_inputs(rng, b: int, e: int = 3, h: int = 8, f: int = 16) -> dict:
    """Random inputs of `moe` (top-1 expert ids) for `b` tokens, `e` experts."""
    return {
        "x": rng.standard_normal((b, h)).astype(np.float32),
        "ids": np.sort(rng.integers(0, e, size=(b, 1)), axis=1).astype(np.int64),
        "w1": rng.standard_normal((e, h, f)).astype(np.float32),
        "w3": rng.standard_normal((e, h, f)).astype(np.float32),
        "w2": rng.standard_normal((e, f, h)).astype(np.float32),
    }


def softmax(x, tm=8):
    t1, t2 = step.copy(step.linear_offchip_load(x, (tm, x.shape[1])))
    shifted = step.map([t1, step.map(t2, "row_max")], "sub")
    e1, e2 = step.copy(step.map(shifted, "exp"))
    return step.linear_offchip_store(step.map([e1, step.map(e2, "row_sum")], "div"), "y")


def rmsnorm(x, w, tm=4, eps=1e-5):
    """y = x / sqrt(mean(x^2) + eps) * w, one tile per row block."""
    rows = step.linear_offchip_load(x, (tm, x.shape[1]))
    r1, r2 = step.copy(rows)
    inv = step.map(
        step.map(step.map(step.map(r1, "square"), "row_mean"), step.fn.add_scalar(value=eps)),
        "rsqrt",
    )
    wt = step.linear_offchip_load(
        w, (1, w.shape[1]), shape=(step.cdiv(x.shape[0], tm), 1), stride=(0, 0)
    )
    return step.linear_offchip_store(step.map([step.map([r2, inv], "mul"), wt], "mul"), "y")
