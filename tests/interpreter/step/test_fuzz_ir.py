"""Mutated STeP IR always gets a verdict: loading refuses it with a ValidationError, or
running and timing it fail with an ExecutionError / SimulationError, or it runs. Never any
other exception (which the verifier would report as an internal error)."""

from __future__ import annotations

import copy
import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import step
from dsl.errors import DialectError
from interpreter.errors import ExecutionError, SimulationError
from interpreter.step import BACKEND
from interpreter.targets import load_target
from tests.dsl.step.helpers import signature
from tests.interpreter.step import programs

TARGET = load_target("step_small")


def routed(ids, x):
    sel = step.map(step.linear_offchip_load(ids, (1, 1)), step.fn.to_selector(n=2))
    parts = step.partition(step.linear_offchip_load(x, (1, 8)), sel, 2)
    rows = [step.map(p, step.fn.scale(factor=2.0), compute=2) for p in parts]
    merged, which = step.eager_merge(rows)
    step.sink(which)
    total = step.accum(step.reshape(merged, 2, pad=False), "add", rank=1)
    step.sink(total)
    back = step.map(step.linear_offchip_load(x, (4, 8)), step.fn.cast(dtype="bfloat16"))
    y = step.map(step.repeat(back, 2), step.fn.cast(dtype="float32"))
    return step.linear_offchip_store(step.accum(y, "max", rank=1), "y")


CASES = [
    (
        step.trace(
            programs.softmax,
            signature({"x": ("float32", ["M", 16])}, {"y": ("float32", ["M", 16])}, {"M": None}),
        ),
        {"x": np.linspace(-3, 3, 20 * 16, dtype=np.float32).reshape(20, 16)},
        {"y": (20, 16)},
        {"M": 20},
    ),
    (
        step.trace(
            routed,
            signature(
                {"ids": ("int64", [8, 1]), "x": ("float32", [8, 8])}, {"y": ("float32", [8, 8])}
            ),
        ),
        {"ids": np.arange(8).reshape(8, 1) % 2, "x": np.ones((8, 8), np.float32)},
        {"y": (8, 8)},
        {},
    ),
]
VALUES = [0, -1, 1, 2, 3, 2**31, 2**62, 10**30, float("nan"), float("inf"), 1.5, True, None, "M"]


def _leaves(data: object, path: tuple = ()) -> list[tuple]:
    """Paths to every scalar of the IR (ints, floats, bools, strings, nulls)."""
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _leaves(v, path + (k,))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _leaves(v, path + (i,))]
    return [path]


def _set(data: object, path: tuple, value: object) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def _verdict(ir: dict, inputs: dict, outputs: dict, dims: dict) -> str:
    try:
        program = BACKEND.load(json.loads(json.dumps(ir)))
    except DialectError:
        return "invalid"
    try:
        out = {k: np.zeros(s, np.float32) for k, s in outputs.items()}
        BACKEND.execute(program, {k: v.copy() for k, v in inputs.items()}, out, dims, TARGET)
        BACKEND.simulate(program, inputs, dims, TARGET)
    except (ExecutionError, SimulationError, DialectError):
        return "failed"
    return "ran"


def test_the_unmutated_programs_run() -> None:
    for ir, inputs, outputs, dims in CASES:
        assert _verdict(ir, inputs, outputs, dims) == "ran"


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_a_mutated_field_gets_a_verdict(data) -> None:
    ir, inputs, outputs, dims = data.draw(st.sampled_from(CASES))
    ir = copy.deepcopy(ir)
    for node in ir["nodes"]:  # declared types are optional: without them a mutation goes deeper
        node.pop("out", None)  # (traced IR ships none: `trace`)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_leaves(ir["nodes"])))
        _set(ir["nodes"], path, data.draw(st.sampled_from(VALUES)))
    _verdict(ir, inputs, outputs, dims)  # any other exception fails the test


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_dropped_and_duplicated_nodes_get_a_verdict(data) -> None:
    ir, inputs, outputs, dims = data.draw(st.sampled_from(CASES))
    ir = copy.deepcopy(ir)
    nodes = ir["nodes"]
    i = data.draw(st.integers(0, len(nodes) - 1))
    if data.draw(st.booleans()):
        del nodes[i]
    else:
        nodes.insert(i, copy.deepcopy(nodes[i]))
    _verdict(ir, inputs, outputs, dims)
