"""The array interpreter against the literal two-process reference (tests/.../reference.py):
same outputs bit for bit, same verdict on protocol errors and deadlocks, for any queue
depths."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dsl import dae
from dsl.dae.compiler import compile_spec
from interpreter.dae import BACKEND
from interpreter.errors import ExecutionError
from tests.dsl.dae.helpers import eb_signature
from tests.interpreter.dae import test_execute as ex
from tests.interpreter.dae.reference import ReferenceError, run_reference


def _program(spec, inputs, signature, level):
    namespace: dict = {}
    exec(compile_spec(spec, tuple(inputs), level), namespace)
    return BACKEND.load(dae.trace(namespace["kernel"], signature))


def _tiny_bags(seed, weighted=False, min_len=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, 4, 3)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    nnz = int(offsets[-1])
    inputs = {
        "offsets": offsets,
        "indices": rng.integers(0, 7, nnz).astype(np.int64),
        "table": rng.standard_normal((7, 10)).astype(np.float32),
    }
    signature = eb_signature(d=10, n=7)
    if weighted:
        inputs["weights"] = rng.standard_normal(nnz).astype(np.float32)
        signature["inputs"].append({"name": "weights", "dtype": "float32", "shape": ["NNZ"]})
    return inputs, {"B": 3, "NOFF": 4, "NNZ": nnz, "N": 7, "D": 10}, signature


def _both(program, inputs, dims, out_shape, out_dtype, control, data):
    """Outputs of the fast path and of the reference, or the error each raised."""
    results = []
    for runner in ("fast", "reference"):
        out = np.full(out_shape, np.nan if out_dtype == np.float32 else -7, dtype=out_dtype)
        arrays = {k: v.copy() for k, v in inputs.items()}
        try:
            if runner == "fast":
                BACKEND.execute(
                    program,
                    arrays,
                    {"out": out},
                    dims,
                    target={
                        **ex.TARGET,
                        "budget": {"control_queue_entries": control, "data_queue_entries": data},
                    },
                )
            else:
                run_reference(program, {**arrays, "out": out}, dims, control, data)
            results.append(out)
        except (ExecutionError, ReferenceError) as exc:
            results.append(
                ("deadlock" if "deadlock" in str(exc) else "protocol")
                if "deadlock" in str(exc) or "protocol" in str(exc)
                else str(exc)
            )
    return results


EB_CASES = [
    ({"op": "embedding_bag", "mode": m}, w, mn)
    for m, w, mn in (("sum", False, 0), ("mean", False, 0), ("max", False, 1), ("sum", True, 0))
]


@pytest.mark.parametrize("level", [0, 1, 2, 3])
@pytest.mark.parametrize("spec, weighted, min_len", EB_CASES)
def test_compiled_embedding_bags_agree_bit_for_bit(spec, weighted, min_len, level):
    inputs, dims, signature = _tiny_bags(level, weighted, min_len)
    if weighted:
        spec = {**spec, "weighted": True}
    program = _program(spec, inputs, signature, level)
    fast, reference = _both(program, inputs, dims, (3, 10), np.float32, 64, 64)
    np.testing.assert_array_equal(fast, reference)
    assert not np.isnan(fast).any()


@settings(max_examples=40, deadline=None)
@given(
    level=st.integers(0, 3),
    control=st.integers(1, 6),
    data=st.integers(1, 6),
    seed=st.integers(0, 1000),
)
@example(level=2, control=1, data=1, seed=483)  # no bags at all: an empty buffer stream
def test_any_queue_depths_give_the_same_verdict(level, control, data, seed):
    """Tiny queues make some orders deadlock (e.g. bag operands pushed ahead of their
    tokens); the fast path must find exactly the runs the reference gets stuck in."""
    inputs, dims, signature = _tiny_bags(seed)
    program = _program({"op": "embedding_bag", "mode": "mean"}, inputs, signature, level)
    fast, reference = _both(program, inputs, dims, (3, 10), np.float32, control, data)
    if isinstance(reference, str):
        assert fast == reference
    else:
        np.testing.assert_array_equal(fast, reference)


@pytest.mark.parametrize(
    "kernel, n, expected",
    [
        (ex._late_operand(100), 8, "deadlock"),
        (ex._late_operand(10), 8, None),
        (ex._operands_first(100), 100, "deadlock"),
        (ex._operands_first(8), 8, None),
    ],
)
def test_hand_written_queue_programs_agree(kernel, n, expected):
    program = BACKEND.load(dae.trace(kernel, ex._int_signature(n)))
    inputs = {"x": np.arange(n, dtype=np.int64), "f": np.ones(n, dtype=np.float32)}
    fast, reference = _both(program, inputs, {"N": n}, (n,), np.int64, 64, 64)
    if expected:
        assert fast == reference == expected
    else:
        np.testing.assert_array_equal(fast, reference)


def test_paged_gather_and_kg_agree():
    rng = np.random.default_rng(4)
    kv = {
        "block_offsets": np.array([0, 2, 2, 5], dtype=np.int64),
        "block_ids": rng.choice(9, 5, replace=False).astype(np.int64),
        "kv_cache": rng.standard_normal((9, 2, 11)).astype(np.float32),
    }
    kv_sig = {
        "inputs": [
            {"name": "block_offsets", "dtype": "int64", "shape": ["NOFF"]},
            {"name": "block_ids", "dtype": "int64", "shape": ["NBLK"]},
            {"name": "kv_cache", "dtype": "float32", "shape": ["NB", "BS", "D"]},
        ],
        "outputs": [{"name": "out", "dtype": "float32", "shape": ["NTOK", "D"]}],
        "dims": {"NOFF": None, "NBLK": None, "NTOK": None, "NB": 9, "BS": 2, "D": 11},
    }
    kv_dims = {"NOFF": 4, "NBLK": 5, "NTOK": 10, "NB": 9, "BS": 2, "D": 11}
    for level in range(4):
        program = _program({"op": "paged_kv_gather"}, kv, kv_sig, level)
        fast, reference = _both(program, kv, kv_dims, (10, 11), np.float32, 64, 64)
        np.testing.assert_array_equal(fast, reference)
