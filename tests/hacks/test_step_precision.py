"""Precision is what it says: a STeP value cast to bfloat16 or float16 is rounded to that
type and stays rounded through every op that produces that type, so the tolerance judges
it; its bytes are charged for that type. Before, a bfloat16 softmax was computed in float32
but charged 2 bytes per element: it passed, 27% faster than the float32 expert."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from benchmarks.task import load_task
from dsl import step
from dsl.step import load_ir
from interpreter.errors import ExecutionError
from interpreter.step import BACKEND
from interpreter.step.precision import to_bfloat16, to_float16
from interpreter.verifier import verify
from tests.dsl.step.helpers import signature
from tests.hacks.step_hacks import SOFTMAX_BF16

FLOAT32S = hnp.arrays(np.float32, st.integers(0, 64), elements=st.floats(width=32, allow_nan=True))


def _same(got: np.ndarray, want: np.ndarray) -> bool:
    """Bitwise equal, any NaN matching any NaN."""
    nan = np.isnan(want)
    return bool(
        (np.isnan(got) == nan).all()
        and (got[~nan].view(np.uint32) == want[~nan].view(np.uint32)).all()
    )


@given(FLOAT32S)
def test_bfloat16_rounding_is_torchs(x: np.ndarray) -> None:
    want = torch.tensor(x).to(torch.bfloat16).to(torch.float32).numpy()
    assert _same(to_bfloat16(x), want)


@given(FLOAT32S)
def test_float16_rounding_is_torchs(x: np.ndarray) -> None:
    want = torch.tensor(x).to(torch.float16).to(torch.float32).numpy()
    assert _same(to_float16(x), want)


@given(st.integers(0, 2**32 - 1))
def test_bfloat16_rounding_of_every_bit_pattern(bits: int) -> None:
    x = np.array([bits], np.uint32).view(np.float32)
    assert _same(to_bfloat16(x), torch.tensor(x).to(torch.bfloat16).float().numpy())


SIG = signature({"x": ("float32", [1, 4])}, {"y": ("float32", [1, 4])})


def _run(kernel, x: np.ndarray, sig: dict = SIG) -> np.ndarray:
    program = load_ir(step.trace(kernel, sig))
    out = {"y": np.full(x.shape, np.nan, np.float32)}
    BACKEND.execute(program, {"x": x}, out, {})
    return out["y"]


def _through(dtype: str, *fns):
    def kernel(x):
        t = step.map(step.linear_offchip_load(x, (1, 4)), step.fn.cast(dtype=dtype))
        for fn in fns:
            t = step.map(t, fn)
        return step.linear_offchip_store(step.map(t, step.fn.cast(dtype="float32")), "y")

    return kernel


def test_a_cast_rounds_to_nearest_even() -> None:
    """bfloat16 keeps 7 mantissa bits: 1 + 2^-8 is half an ulp above 1 (ties to 1, even),
    1 + 3 * 2^-8 half an ulp below 1 + 2^-6 (ties to it, even); float16 keeps 10 bits."""
    x = np.array([[1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8), 1 + 2**-11]], np.float32)
    np.testing.assert_array_equal(_run(_through("bfloat16"), x), [[1, 1 + 2**-6, -1, 1]])
    np.testing.assert_array_equal(
        _run(_through("float16"), x), [[1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8), 1]]
    )


def test_values_stay_rounded_through_ops() -> None:
    """1 + 2^-8 computed in bfloat16 is 1 again; with float32 arithmetic behind a bfloat16
    type it would be 1.00390625."""
    x = np.ones((1, 4), np.float32)
    got = _run(_through("bfloat16", step.fn.add_scalar(value=2**-8)), x)
    np.testing.assert_array_equal(got, np.ones((1, 4)))
    got = _run(_through("float16", step.fn.add_scalar(value=2**-11), "exp"), x)
    np.testing.assert_array_equal(got, np.full((1, 4), np.float16(np.e), np.float32))


def test_the_bfloat16_softmax_is_judged_at_its_precision() -> None:
    v = verify(load_task("step/softmax"), SOFTMAX_BF16, seed=11)
    assert v.status == "incorrect", v.feedback
    assert "output 'y'" in v.feedback


def test_a_tensor_declared_narrower_than_its_data_is_refused() -> None:
    """Declaring an input bfloat16 would halve its charged bytes while loading float32
    values: the declared dtype must be the data's."""

    def kernel(x):
        t = step.map(step.linear_offchip_load(x, (1, 4)), step.fn.cast(dtype="float32"))
        return step.linear_offchip_store(t, "y")

    sig = signature({"x": ("bfloat16", [1, 4])}, {"y": ("float32", [1, 4])})
    with pytest.raises(ExecutionError, match="input 'x' is float32 but the program declares bf"):
        _run(kernel, np.ones((1, 4), np.float32), sig)
