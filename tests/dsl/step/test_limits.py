"""Every numeric field of STeP IR has a range: a value outside it is a one-line
ValidationError naming the node, its op and the field (and a ProgramError at the user's line
when the builder sees it first), never an allocation the trusted side cannot afford."""

from __future__ import annotations

import copy
import json
import re

import pytest

from dsl import step
from dsl.errors import ProgramError, ValidationError
from tests.dsl.step.helpers import signature
from tests.interpreter.step import programs

SOFTMAX = step.trace(
    programs.softmax,
    signature({"x": ("float32", ["M", 16])}, {"y": ("float32", ["M", 16])}, {"M": None}),
)
ROUTED_SIG = signature({"ids": ("int64", ["B", 2])}, {"y": ("int64", ["B", 2])}, {"B": None})


def routed(ids):
    a, b = step.copy(step.linear_offchip_load(ids, (1, 2)))
    step.sink(step.map(a, step.fn.to_selector(n=4)))
    c = step.map(step.map(b, step.fn.ceil_div(divisor=2)), step.fn.affine_index(scale=3))
    return step.linear_offchip_store(c, "y")


ROUTED = step.trace(routed, ROUTED_SIG)


def _refused(ir: dict, mutate) -> str:
    ir = copy.deepcopy(ir)
    mutate(ir)
    with pytest.raises(ValidationError) as info:
        step.load_ir(json.loads(json.dumps(ir)))
    return str(info.value)


def _attrs(ir: dict, node: int) -> dict:
    return ir["nodes"][node]["attrs"]


def _fn_args(ir: dict, node: int) -> dict:
    return ir["nodes"][node]["attrs"]["fn"]["args"]


def _deep_cdiv(depth: int) -> dict:
    dim: object = {"terms": [[1, ["M"]]]}
    for _ in range(depth):
        dim = {"terms": [[1, [{"cdiv": [dim, 2]}]]]}
    return dim


@pytest.mark.parametrize(
    ("ir", "mutate", "message"),
    [
        (
            SOFTMAX,
            lambda ir: _attrs(ir, 0).update(tile=[1 << 15, 16]),
            r"node 0 \(linear_offchip_load, line \d+\): attribute 'tile': rows must be at "
            r"most 16384, got 32768",
        ),
        (
            SOFTMAX,
            lambda ir: _attrs(ir, 0).update(tile=[4096, 2048]),
            r"attribute 'tile': a \[4096, 2048\] tile has 8388608 elements \(at most 4194304\)",
        ),
        (
            SOFTMAX,
            lambda ir: _attrs(ir, 1).update(n=5000),
            r"node 1 \(copy, line \d+\): attribute 'n': must be at most 1024, got 5000",
        ),
        (
            SOFTMAX,
            lambda ir: _attrs(ir, 2).update(compute=2**41),
            r"node 2 \(map, line \d+\): attribute 'compute': must be at most 1099511627776",
        ),
        (
            SOFTMAX,
            lambda ir: _attrs(ir, 0).update(base={"terms": [[2**50, ["M"]]]}),
            r"node 0 .*attribute 'base': must be at most 1099511627776, got 1125899906842624",
        ),
        (
            SOFTMAX,
            lambda ir: _attrs(ir, 0).update(shape=[_deep_cdiv(10), 1]),
            r"attribute 'shape': dimension nests cdiv/fdiv deeper than 8",
        ),
        (
            SOFTMAX,
            lambda ir: _attrs(ir, 0).update(shape=[1] * 40),
            r"attribute 'shape': must be a list of at most 33 dims",
        ),
        (
            ROUTED,
            lambda ir: _fn_args(ir, 2).update(n=10**6),
            r"node 2 \(map, line \d+\): attribute 'fn': to_selector: parameter 'n' must be in "
            r"1..4096, got 1000000",
        ),
        (
            ROUTED,
            lambda ir: _fn_args(ir, 4).update(divisor=0),
            r"attribute 'fn': ceil_div: parameter 'divisor' must be in 1..2147483648, got 0",
        ),
        (
            ROUTED,
            lambda ir: _fn_args(ir, 5).update(scale=2**40),
            r"affine_index: parameter 'scale' must be in -2147483648..2147483648",
        ),
    ],
)
def test_out_of_range_fields_are_named(ir: dict, mutate, message: str) -> None:
    assert ROUTED["nodes"][2]["attrs"]["fn"]["fn"] == "to_selector"  # the indices above
    assert ROUTED["nodes"][4]["attrs"]["fn"]["fn"] == "ceil_div"
    err = _refused(ir, mutate)
    assert len(err.splitlines()) == 1
    assert re.search(message, err), err


def test_a_stream_deeper_than_the_rank_limit_is_refused() -> None:
    """Stop levels are int8 in the interpreter: ranks stop at 32, in the builder and in the
    IR (one more repeat spliced into a valid rank-32 program)."""
    sig = signature({"x": ("float32", [1, 1])}, {"y": ("float32", [1, 1])})

    def deep(x, repeats=32):
        t = step.linear_offchip_load(x, (1, 1))
        for _ in range(repeats):
            t = step.repeat(t, 1)
        return step.linear_offchip_store(t, "y")

    with pytest.raises(ProgramError, match=r"repeat: output 0: rank 33 is more than 32"):
        step.trace(deep, sig)
    ir = step.trace(lambda x: deep(x, 31), sig)
    store = ir["nodes"].pop()
    ir["nodes"].append({"id": 32, "op": "repeat", "in": [[31, 0]], "attrs": {"count": 1}})
    ir["nodes"].append(dict(store, id=33, **{"in": [[32, 0]]}))
    with pytest.raises(ValidationError, match=r"node 32 \(repeat\): output 0 .*rank 33 is more"):
        step.load_ir(ir)


def test_the_builder_refuses_at_the_users_line() -> None:
    sig = signature({"x": ("float32", [4, 4])}, {"y": ("float32", [4, 4])})

    def huge_tile(x):
        return step.linear_offchip_store(step.linear_offchip_load(x, (1 << 15, 4)), "y")

    def many_copies(x):
        return step.linear_offchip_store(
            step.copy(step.linear_offchip_load(x, (4, 4)), 5000)[0], "y"
        )

    with pytest.raises(ProgramError, match=r"linear_offchip_load: tile rows must be at most 16384"):
        step.trace(huge_tile, sig)
    with pytest.raises(ProgramError, match=r"copy: n must be at most 1024, got 5000"):
        step.trace(many_copies, sig)
