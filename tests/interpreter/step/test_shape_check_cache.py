"""The functional pass's shape checks, remembered, decide exactly as checking every output.

`FunctionalPass.store` skips a structure check it has seen the outcome of (the same arrays,
or equal small ones, against the same declared values) and a tile check of a container it
has checked; equal shapes of other symbols share outcomes once their dims have values.
These tests run random sequences of outputs (fresh streams, the same stream again, equal
copies, streams off by one stop, tiles of other shapes, ragged and unbound dims that the
checks bind) through the pass and through a reference that fully checks every output, and
demand the same failure (node and message) and the same dims bound. Also: the program's
`Declared` is not used for another program nor for the same one changed in place.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl.core.ir import Node, Port
from dsl.step.ir import Program
from dsl.step.symbolic import RAGGED, Expr
from dsl.step.types import StreamType, tile
from interpreter.errors import ExecutionError
from interpreter.step import BACKEND
from interpreter.step import run as run_module
from interpreter.step.run import Declared, FunctionalPass
from interpreter.step.semantics import RunContext
from interpreter.step.streams import StreamData, regular

A, B, R = Expr.sym("a"), Expr.sym("b"), Expr.sym("r", RAGGED)
A2, B2 = Expr.sym("a2"), Expr.sym("b2")  # the same shapes over other symbols (another expert)
DIMS = [Expr.const(2), Expr.const(3), A, B, A.cdiv(2), R, A2, B2, A2.cdiv(2)]
ROWS = [Expr.const(1), Expr.const(2), A, B2, R]


@st.composite
def outputs(draw):
    """A node's declared output and the stream it produced: the regular stream of some
    values (maybe not the declared ones), sometimes with one stop changed or a bare stop,
    with tiles of some rows (maybe not the declared ones); or a stream seen before."""
    rank = draw(st.integers(0, 2))
    shape = tuple(draw(st.sampled_from(DIMS)) for _ in range(rank + 1))
    rows = draw(st.sampled_from(ROWS))
    declared = StreamType(tile("float32", rows, 4), shape)
    sizes = tuple(draw(st.integers(1 if k else 0, 3)) for k in range(rank + 1))
    tile_rows = draw(st.integers(1, 3))
    n = int(np.prod(sizes))
    values = np.zeros((n, tile_rows, 4), np.float32)
    s = regular(sizes, values)
    change = draw(st.sampled_from(["none", "none", "stop", "bare"]))
    if change == "stop" and s.n_items:
        at = draw(st.integers(0, s.n_items - 1))
        s.stop[at] = (s.stop[at] + 1) % (rank + 1)
    elif change == "bare" and s.n_items:
        s.has_value[-1] = False
        s = StreamData(s.stop, s.has_value, values[:-1])
    return declared, s, draw(st.sampled_from(["fresh", "again", "equal"]))


def _program(types: list[StreamType], ops: list[str]) -> Program:
    nodes = tuple(
        Node(i, op, (), {}, (t,)) for i, (t, op) in enumerate(zip(types, ops, strict=True))
    )
    return Program(nodes, {}, {"a": "dynamic", "b": "dynamic", "r": RAGGED}, ())


def _reference(program: Program, streams: list[StreamData], dims: dict) -> str | None:
    """Every output checked in full, as the pass did before it remembered outcomes."""
    for node, s in zip(program.nodes, streams, strict=True):
        t = node.outputs[0]
        try:
            run_module._check_structure(node, 0, s, t, dims)
            if s.n_values:
                run_module._check_tiles(node, 0, s, t.elem, dims)
        except ExecutionError as exc:
            return str(exc)
    return None


def _remembered(program: Program, streams: list[StreamData], dims: dict) -> str | None:
    ctx = RunContext(program, {}, dims)
    rules = {op: None for op in ("map", "flat_map")}
    check = FunctionalPass(program, rules, ctx, Declared(program))
    values: dict[Port, StreamData] = {}
    for node, s in zip(program.nodes, streams, strict=True):
        try:
            check.store(node, [s], values)
        except ExecutionError as exc:
            return str(exc)
    return None


@settings(max_examples=400, deadline=None)
@given(
    steps=st.lists(outputs(), min_size=1, max_size=12),
    ops=st.lists(st.sampled_from(["map", "flat_map"]), min_size=12, max_size=12),
    known=st.dictionaries(st.sampled_from(["a", "b", "a2", "b2"]), st.integers(0, 3)),
)
def test_remembered_checks_fail_and_bind_as_checking_every_output(steps, ops, known) -> None:
    streams: list[StreamData] = []
    for _, s, reuse in steps:
        if reuse == "again" and streams:
            s = streams[-1]  # the very stream again (copy, map): its arrays' ids
        elif reuse == "equal" and streams:
            last = streams[-1]  # equal arrays, other objects (another expert's stream)
            s = StreamData(last.stop.copy(), last.has_value.copy(), np.copy(last.values))
        streams.append(s)
    program = _program([t for t, _, _ in steps], ops[: len(steps)])
    want_dims, got_dims = dict(known), dict(known)
    assert _remembered(program, streams, got_dims) == _reference(program, streams, want_dims)
    assert got_dims == want_dims


def test_a_stream_that_passed_is_checked_again_once_its_dim_is_bound() -> None:
    """cdiv(a, 2) has no value before `a` is bound, and the check lets any count through
    then; once a later output binds `a`, the same stream is refused."""
    three = regular((3,), np.zeros((3, 1, 4), np.float32))
    types = [
        StreamType(tile("float32", 1, 4), shape) for shape in [(A.cdiv(2),), (A,), (A.cdiv(2),)]
    ]
    program = _program(types, ["map"] * 3)
    four = regular((4,), np.zeros((4, 1, 4), np.float32))
    message = _remembered(program, [three, four, three], {})
    assert message is not None and "cdiv" in message and "node 2" in message


def _declared_case() -> Program:
    types = [StreamType(tile("float32", 1, 4), (A,)), StreamType(tile("float32", 1, 4), (B,))]
    return _program(types, ["map", "map"])


def test_declared_belongs_to_one_unchanged_program() -> None:
    """`Declared.of` is true only of the very program it was read from, as it was: a twin
    built from the same nodes, or the program with a node's outputs or op changed in place
    or its nodes replaced, gets a fresh one from the backend."""
    program = _declared_case()
    declared = BACKEND.declared(program)
    assert declared.of(program) and BACKEND.declared(program) is declared
    twin = _declared_case()
    assert not declared.of(twin)
    node = program.nodes[1]
    object.__setattr__(node, "outputs", (StreamType(tile("float32", 2, 4), (A,)),))
    assert not declared.of(program)
    fresh = BACKEND.declared(program)
    assert fresh is not declared and fresh.outputs[1][0][-1][0] == tile("float32", 2, 4)
    object.__setattr__(node, "op", "flat_map")
    assert not fresh.of(program)
    again = BACKEND.declared(program)
    object.__setattr__(program, "nodes", program.nodes[:1])
    assert not again.of(program)
    assert len(BACKEND.declared(program).outputs) == 1


def test_a_changed_declared_shape_is_checked_against_the_new_shape() -> None:
    """The same program object, checked, changed in place, checked again: the second pass
    checks against the changed type (the first pass's `Declared` would let the stream by)."""
    program = _declared_case()
    s = regular((3,), np.zeros((3, 1, 4), np.float32))
    values: dict[Port, StreamData] = {}
    first = FunctionalPass(program, {}, RunContext(program, {}, {}), BACKEND.declared(program))
    first.store(program.nodes[1], [s], values)
    two = (StreamType(tile("float32", 1, 4), (Expr.const(2),)),)
    object.__setattr__(program.nodes[1], "outputs", two)
    again = FunctionalPass(program, {}, RunContext(program, {}, {}), BACKEND.declared(program))
    with pytest.raises(ExecutionError, match=r"node 1\).*is \[3\]"):
        again.store(program.nodes[1], [s], values)
