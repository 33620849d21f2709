"""Random property tests: STeP programs run by the interpreter agree with torch."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import step
from interpreter.step import BACKEND
from tests.dsl.step.helpers import signature
from tests.interpreter.step import programs

FAST = settings(max_examples=20, deadline=None)


def _run(kernel, sig: dict, inputs: dict, dims: dict) -> dict:
    program = BACKEND.load(step.trace(kernel, sig))
    outputs = {
        o["name"]: np.full(
            [dims.get(d, d) if isinstance(d, str) else d for d in o["shape"]], np.nan, np.float32
        )
        for o in sig["outputs"]
    }
    BACKEND.execute(program, inputs, outputs, dims)
    return outputs


@FAST
@given(
    m=st.integers(1, 40),
    k=st.sampled_from([16, 24, 48]),
    n=st.sampled_from([8, 16, 40]),
    tiles=st.sampled_from([(16, 16, 16), (8, 16, 8), (32, 8, 16)]),
    reuse=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_gemm_matches_torch(m: int, k: int, n: int, tiles: tuple, reuse: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    tm, tn, tk = tiles
    kernel = programs.gemm_reuse if reuse else programs.gemm
    out = _run(
        kernel,
        programs.gemm_signature(None, k, n, tm=tm, tn=tn, tk=tk),
        {"a": a, "b": b},
        {"M": m, "K": k, "N": n},
    )
    want = (torch.from_numpy(a) @ torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(out["c"], want, rtol=1e-4, atol=1e-4)


@FAST
@given(
    b=st.integers(1, 24),
    k=st.sampled_from([1, 2]),
    e=st.sampled_from([2, 4]),
    chunk=st.sampled_from([0, 2, 3]),
    seed=st.integers(0, 2**16),
)
def test_moe_matches_torch(b: int, k: int, e: int, chunk: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, f = 16, 32
    x = rng.standard_normal((b, h)).astype(np.float32)
    ids = np.sort(np.stack([rng.choice(e, k, replace=False) for _ in range(b)]), axis=1)
    w1, w3 = (rng.standard_normal((e, h, f)).astype(np.float32) * 0.2 for _ in range(2))
    w2 = rng.standard_normal((e, f, h)).astype(np.float32) * 0.2
    out = _run(
        programs.moe,
        programs.moe_signature(e, h, f, k, tile_f=16, chunk=chunk),
        {"x": x, "ids": ids.astype(np.int64), "w1": w1, "w3": w3, "w2": w2},
        {"B": b},
    )
    tx = torch.from_numpy(x)
    want = torch.zeros(b, h)
    for t in range(b):
        for ex in ids[t]:
            g = torch.nn.functional.silu(tx[t] @ torch.from_numpy(w1[ex]))
            want[t] += (g * (tx[t] @ torch.from_numpy(w3[ex]))) @ torch.from_numpy(w2[ex])
    np.testing.assert_allclose(out["y"], want.numpy(), rtol=1e-4, atol=1e-4)


@FAST
@given(
    m=st.integers(1, 30),
    n=st.sampled_from([4, 16, 33]),
    tm=st.sampled_from([1, 4, 8]),
    seed=st.integers(0, 2**16),
)
def test_softmax_and_rmsnorm_match_torch(m: int, n: int, tm: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((m, n)) * 3).astype(np.float32)
    w = rng.standard_normal((1, n)).astype(np.float32)
    sig = signature(
        {"x": ("float32", ["M", n])}, {"y": ("float32", ["M", n])}, {"M": None}, {"tm": tm}
    )
    got = _run(programs.softmax, sig, {"x": x}, {"M": m})["y"]
    np.testing.assert_allclose(
        got, torch.softmax(torch.from_numpy(x), -1).numpy(), rtol=1e-5, atol=1e-6
    )
    sig = signature(
        {"x": ("float32", ["M", n]), "w": ("float32", [1, n])},
        {"y": ("float32", ["M", n])},
        {"M": None},
        {"tm": tm},
    )
    got = _run(programs.rmsnorm, sig, {"x": x, "w": w}, {"M": m})["y"]
    want = torch.nn.functional.rms_norm(torch.from_numpy(x), (n,), torch.from_numpy(w[0]), eps=1e-5)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-5)


@FAST
@given(rows=st.integers(0, 20), n=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_partition_reassemble_round_trip(rows: int, n: int, seed: int) -> None:
    """Route rows to random subsets of n consumers and back: each output row is the input
    row times the number of consumers chosen (zero rows stay unwritten)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((max(rows, 1), 8)).astype(np.float32)[:rows]
    ids = rng.integers(0, n, size=(rows, 2)).astype(np.int64)

    def kernel(x, ids):
        sel_a, sel_b = step.copy(
            step.map(step.linear_offchip_load(ids, (1, 2)), step.fn.to_selector(n=n))
        )
        parts = step.partition(step.linear_offchip_load(x, (1, 8)), sel_a, n)
        back = step.reassemble([step.map(p, "abs") for p in parts], sel_b)
        return step.linear_offchip_store(step.accum(back, "add", rank=1), "y")

    sig = signature(
        {"x": ("float32", ["R", 8]), "ids": ("int64", ["R", 2])},
        {"y": ("float32", ["R", 8])},
        {"R": None},
    )
    got = _run(kernel, sig, {"x": x, "ids": ids}, {"R": rows})["y"]
    count = np.array([len(set(r)) for r in ids.tolist()], dtype=np.float32).reshape(-1, 1)
    np.testing.assert_allclose(got, np.abs(x) * count, rtol=1e-6)
