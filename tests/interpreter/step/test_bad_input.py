"""Bad programs and bad data: a one-line ExecutionError naming the op, never a traceback
from deep inside numpy and never a hang."""

from __future__ import annotations

import numpy as np
import pytest

from dsl import step
from dsl.errors import ProgramError
from interpreter.core.targets import TargetError
from interpreter.errors import ExecutionError
from interpreter.step import BACKEND
from tests.dsl.step.helpers import signature
from tests.interpreter.step import programs


def _program(kernel, sig: dict):
    return BACKEND.load(step.trace(kernel, sig))


def test_input_of_the_wrong_shape() -> None:
    program = _program(programs.gemm, programs.gemm_signature(None, 16, 16))
    a, b = np.zeros((8, 16), np.float32), np.zeros((16, 8), np.float32)
    with pytest.raises(
        ExecutionError,
        match=r"input 'b' has shape \[16, 8\], the program "
        r"expects \[16, 16\]",
    ):
        BACKEND.execute(program, {"a": a, "b": b}, {"c": np.zeros((8, 16))}, {"M": 8})
    with pytest.raises(ExecutionError, match="no data for input 'b'"):
        BACKEND.execute(program, {"a": a}, {"c": np.zeros((8, 16))}, {"M": 8})


def test_routing_id_out_of_range_names_the_op() -> None:
    def kernel(x, ids):
        sel = step.map(step.linear_offchip_load(ids, (1, 1)), step.fn.to_selector(n=2))
        parts = step.partition(step.linear_offchip_load(x, (1, 4)), sel, 2)
        return step.linear_offchip_store(
            step.reassemble(
                parts, step.map(step.linear_offchip_load(ids, (1, 1)), step.fn.to_selector(n=2))
            ),
            "y",
        )

    sig = signature(
        {"x": ("float32", [3, 4]), "ids": ("int64", [3, 1])}, {"y": ("float32", [3, 4])}
    )
    with pytest.raises(ProgramError, match="tile grid"):
        _program(kernel, sig)  # reassemble adds a dim: the store shape disagrees

    def fixed(x, ids):
        sel = step.map(step.linear_offchip_load(ids, (1, 1)), step.fn.to_selector(n=2))
        parts = step.partition(step.linear_offchip_load(x, (1, 4)), sel, 2)
        back = step.reassemble(
            parts, step.map(step.linear_offchip_load(ids, (1, 1)), step.fn.to_selector(n=2))
        )
        return step.linear_offchip_store(step.accum(back, "add", rank=1), "y")

    program = _program(fixed, sig)
    x = np.ones((3, 4), np.float32)
    with pytest.raises(
        ExecutionError,
        match=r"map \(node 1, line \d+\): to_selector: id 5 is "
        r"outside 0..1",
    ):
        BACKEND.execute(
            program, {"x": x, "ids": np.array([[0], [5], [1]])}, {"y": np.zeros((3, 4))}, {}
        )


def test_false_shape_claim_is_caught_at_run_time() -> None:
    sig = signature({"x": ("float32", ["M", 4])}, {"y": ("float32", ["M", 4])}, {"M": None})

    def claim(x):
        rows = step.flatten(step.linear_offchip_load(x, (1, 4)))  # [M]
        pairs = step.reshape(rows, 2)  # [cdiv(M, 2), r]: the last pair is short if M is odd
        sure = step.assume_shape(pairs, [step.cdiv(x.shape[0], 2), 2])
        return step.linear_offchip_store(sure, "y", stride=(2, 1))

    program = _program(claim, sig)
    out = {"y": np.zeros((4, 4), np.float32)}
    BACKEND.execute(program, {"x": np.ones((4, 4), np.float32)}, out, {"M": 4})
    assert out["y"].sum() == 16
    with pytest.raises(
        ExecutionError,
        match=r"assume_shape \(node 3.*dim 1 \(2 = 2\) is "
        r"\[1, 2\]",
    ):
        BACKEND.execute(
            program, {"x": np.ones((5, 4), np.float32)}, {"y": np.zeros((5, 4))}, {"M": 5}
        )


def test_strided_load_out_of_bounds() -> None:
    def kernel(x):
        t = step.linear_offchip_load(x, (1, 4), shape=(x.shape[0], 1), stride=(2, 1))
        return step.linear_offchip_store(t, "y")

    sig = signature({"x": ("float32", ["M", 4])}, {"y": ("float32", ["M", 4])}, {"M": None})
    program = _program(kernel, sig)
    with pytest.raises(
        ExecutionError,
        match=r"linear_offchip_load \(node 0.*index 4 is "
        r"outside 0..3",
    ):
        BACKEND.execute(
            program, {"x": np.ones((4, 4), np.float32)}, {"y": np.zeros((4, 4))}, {"M": 4}
        )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"offchip_bw": 0}, r"^target 'x': offchip_bw must be a number > 0, got 0$"),
        ({"channel_depth": 2.5}, r"^target 'x': channel_depth must be a whole number, got 2.5$"),
        ({"onchip_bw": True}, r"^target 'x': onchip_bw must be a number >= 0, got True$"),
        ({"ofchip_bw": 8}, r"^target 'x': unknown key ofchip_bw; known: name, "),
    ],
)
def test_bad_target_values(override: dict, message: str) -> None:
    """A bad timing value, or a misspelt key that would silently keep the default, is
    refused in one line naming the target and the key, before anything runs."""
    program = _program(programs.gemm, programs.gemm_signature(16, 16, 16))
    a = b = np.ones((16, 16), np.float32)
    with pytest.raises(TargetError, match=message):
        BACKEND.simulate(program, {"a": a, "b": b}, {"M": 16}, {"name": "x", **override})


def test_unwritten_output_keeps_the_poison() -> None:
    def kernel(x):
        t = step.linear_offchip_load(x, (1, 4), shape=(1, 1))
        return step.linear_offchip_store(t, "y", stride=(0, 0))

    sig = signature({"x": ("float32", [2, 4])}, {"y": ("float32", [2, 4])})
    program = _program(kernel, sig)
    out = {"y": np.full((2, 4), np.nan, np.float32)}
    BACKEND.execute(program, {"x": np.ones((2, 4), np.float32)}, out, {})
    assert np.isnan(out["y"][1]).all() and (out["y"][0] == 1).all()
