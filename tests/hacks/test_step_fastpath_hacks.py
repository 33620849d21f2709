"""An agent cannot slip a wrong stream structure or tile past the functional pass's
remembered shape checks (`run.FunctionalPass.store`, f44cc05).

The pass skips a structure check it has seen the outcome of: for the very same arrays, or,
for streams of at most `SMALL_STREAM` items, for equal contents, against the same declared
values; and a tile check of a container it has checked, or whose tiles are as declared.
The attacks here aim at the edges of that memory: a stream equal to a checked one in its
first 1,024 items and wrong after them; a stream of exactly 1,024 items wrong in its last
one; a stream whose stops equal a checked one's but whose values do not (a bare last item:
its innermost count differs); a stop array of another dtype with the same values; a later
run of the same program (the same `Declared`, the very stream objects) with dims that make
them wrong; tiles let by while their dim had no value, output again once it has one; a
split's short last tile output again by a map; and, end to end, 128 experts asserted to get
as many tokens as the first. Each is refused with the message a full check gives
(`_check_structure` and `_check_tiles` called on every output, as the pass did before it
remembered outcomes; the same tests pass on the code before f44cc05).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.task import load_task
from dsl.core.ir import Node, Port
from dsl.step.ir import Program
from dsl.step.symbolic import Expr
from dsl.step.types import StreamType, tile
from interpreter.errors import ExecutionError
from interpreter.step import BACKEND
from interpreter.step import run as run_module
from interpreter.step.run import SMALL_STREAM, FunctionalPass
from interpreter.step.semantics import RunContext
from interpreter.step.streams import StreamData, regular
from interpreter.verifier import verify

A, B = Expr.sym("a"), Expr.sym("b")
ELEM = tile("float32", 1, 4)


def _program(shapes: list[tuple[Expr, ...]]) -> Program:
    nodes = tuple(
        Node(i, "map", (), {}, (StreamType(ELEM, shape),)) for i, shape in enumerate(shapes)
    )
    return Program(nodes, {}, {"a": "dynamic", "b": "dynamic"}, ())


def _stream(sizes: tuple[int, ...]) -> StreamData:
    return regular(sizes, np.zeros((int(np.prod(sizes)), 1, 4), np.float32))


def _run(program: Program, streams: list[StreamData], dims: dict) -> str | None:
    """Each stream stored as its node's output by one pass, with the program's cached
    `Declared` (as the backend runs it): the first refusal's message, or None."""
    ctx = RunContext(program, {}, dims)
    check = FunctionalPass(program, {}, ctx, BACKEND.declared(program))
    values: dict[Port, StreamData] = {}
    for node, s in zip(program.nodes, streams, strict=True):
        try:
            check.store(node, [s], values)
        except ExecutionError as exc:
            return str(exc)
    return None


def _reference(program: Program, streams: list[StreamData], dims: dict) -> str | None:
    """Every output's structure checked in full."""
    for node, s in zip(program.nodes, streams, strict=True):
        try:
            run_module._check_structure(node, 0, s, node.outputs[0], dims)
        except ExecutionError as exc:
            return str(exc)
    return None


def _refused_alike(program: Program, streams: list[StreamData], dims: dict) -> str:
    want_dims, got_dims = dict(dims), dict(dims)
    want = _reference(program, streams, want_dims)
    assert want is not None, "the attack must be one a full check refuses"
    assert _run(program, streams, got_dims) == want
    assert got_dims == want_dims
    return want


def _shifted(outer: int, inner: int) -> StreamData:
    """`regular((outer, inner))` with its last two inner runs `inner - 1` and `inner + 1`
    items long: as many items and outer items, ragged only at its end."""
    s = _stream((outer, inner))
    stop = s.stop.copy()
    end = s.n_items - inner - 1  # the end of the last run but one
    stop[end - 1], stop[end] = 1, 0
    return StreamData(stop, s.has_value.copy(), s.values)


@pytest.mark.parametrize("outer", [SMALL_STREAM // 8, SMALL_STREAM // 8 + 2])
def test_a_stream_wrong_only_past_the_small_stream_limit_is_refused(outer: int) -> None:
    """128 runs of 8 items (1,024: remembered by content) or 130 (1,040: not; its first
    change is at item 1,030): a regular stream passes and binds a and b; a stream equal to
    it but for its last two runs must be checked, not taken for the one seen."""
    good, bad = _stream((outer, 8)), _shifted(outer, 8)
    first = int(np.flatnonzero(good.stop != bad.stop)[0])
    assert first >= SMALL_STREAM or good.n_items == SMALL_STREAM
    program = _program([(A, B)] * 3)
    message = _refused_alike(program, [good, good, bad], {})
    assert "node 2" in message and "dim 1 (b = 8) is [7, 8, 9]" in message


def test_a_stream_of_1024_items_wrong_in_its_last_item_is_refused() -> None:
    """Exactly `SMALL_STREAM` items (remembered by content), the last one bare: 1,023
    values where 1,024 are declared, with the very stops of the stream that passed."""
    good = _stream((SMALL_STREAM,))
    has = good.has_value.copy()
    has[-1] = False
    bad = StreamData(good.stop.copy(), has, good.values[:-1])
    program = _program([(Expr.const(SMALL_STREAM),)] * 2)
    _refused_alike(program, [good, bad], {})


def test_equal_stops_with_a_bare_last_item_are_another_structure() -> None:
    """The same stop array's bytes with a value missing at the end (an empty last element):
    the innermost count differs, so the remembered outcome of the full stream is not it."""
    good = _stream((3, 4))
    has = good.has_value.copy()
    has[-1] = False
    bare = StreamData(good.stop.copy(), has, good.values[:-1])
    program = _program([(A, B)] * 2)
    message = _refused_alike(program, [good, bare], {})
    assert "dim 1" in message


def test_a_stop_array_of_another_dtype_is_judged_on_its_own() -> None:
    """int64 stops with the values of a checked int8 array (their bytes differ, as their
    dtypes do): checked, and judged as a full check judges them."""
    good = _stream((2, 3))
    wide = StreamData(good.stop.astype(np.int64), good.has_value.copy(), good.values)
    wrong = _shifted(2, 3)
    wrong = StreamData(wrong.stop.astype(np.int64), wrong.has_value, wrong.values)
    assert _run(_program([(A, B)] * 2), [good, wide], {}) is None
    _refused_alike(_program([(A, B)] * 3), [good, wide, wrong], {})


def test_a_later_run_of_the_same_program_checks_again() -> None:
    """One verify runs a program several times (its seeds and dims): the second run, with
    the same `Declared` and the very stream objects the first passed, is checked against
    its own dims (a=4 given where the first run bound a=3), not let through."""
    program = _program([(A, B), (A, B)])
    three = _stream((3, 2))
    first_dims: dict = {}
    assert _run(program, [three, three], first_dims) is None
    assert first_dims == {"a": 3, "b": 2}
    message = _refused_alike(program, [three, three], {"a": 4})
    assert "node 0" in message and "a = 4" in message
    # and a later run with fresh dims binds them again from its own streams
    four = _stream((4, 2))
    dims: dict = {}
    assert _run(program, [four, four], dims) is None and dims == {"a": 4, "b": 2}


def _tiled(types: list[tuple[str, StreamType]]) -> Program:
    nodes = tuple(Node(i, op, (), {}, (t,)) for i, (op, t) in enumerate(types))
    return Program(nodes, {}, {"a": "dynamic", "b": "dynamic"}, ())


def _tiles_reference(program: Program, streams: list[StreamData], dims: dict) -> str | None:
    """Every output's structure and tiles checked in full."""
    for node, s in zip(program.nodes, streams, strict=True):
        try:
            run_module._check_structure(node, 0, s, node.outputs[0], dims)
            if s.n_values:
                run_module._check_tiles(node, 0, s, node.outputs[0].elem, dims)
        except ExecutionError as exc:
            return str(exc)
    return None


def test_tiles_let_by_before_their_dim_is_bound_are_checked_after() -> None:
    """Tiles declared cdiv(a, 2) rows cannot be checked while a has no value (the pass lets
    any rows by then); once a later output binds a = 3, the very same container of 5-row
    tiles under that type is refused (cdiv(3, 2) = 2), not skipped as seen or as free."""
    five = regular((3,), np.zeros((3, 5, 4), np.float32))
    half = StreamType(tile("float32", A.cdiv(2), 4), (Expr.const(3),))
    program = _tiled([("map", half), ("map", StreamType(ELEM, (A,))), ("map", half)])
    streams = [five, _stream((3,)), five]
    want_dims, got_dims = {}, {}
    want = _tiles_reference(program, streams, want_dims)
    assert want is not None and "node 2" in want and "rows [5]" in want
    assert _run(program, streams, got_dims) == want and got_dims == want_dims


def test_a_short_last_tile_passes_a_split_only() -> None:
    """Tiles of 2, 2 and 1 rows declared 2: split_rows (a flat_map) may leave a smaller
    last piece, so the flat_map's output passes; the same container output by a map is a
    wrong tile and is refused (the remembered outcome is the flat_map's own)."""
    values = [np.zeros((2, 4), np.float32)] * 2 + [np.zeros((1, 4), np.float32)]
    s = StreamData(_stream((3,)).stop, np.ones(3, bool), values)
    two = StreamType(tile("float32", 2, 4), (Expr.const(3),))
    program = _tiled([("flat_map", two), ("map", two)])
    assert _run(_tiled([("flat_map", two)]), [s], {}) is None
    want = _tiles_reference(program, [s, s], {})
    assert want is not None and "map (node 1)" in want
    assert _run(program, [s, s], {}) == want


_BASELINES = Path(__file__).resolve().parents[2] / "benchmarks" / "step" / "baselines"


def test_experts_asserted_to_share_a_token_count_are_refused() -> None:
    """End to end, on the MoE layer: every expert's routed tokens asserted (assume_shape) to
    be as many as expert 0's. Expert 0's count binds the dim; the 128 experts' small streams
    (zero to three tokens, many equal: remembered by content) are each checked against it,
    and the first expert with another count is refused (as the pass did before it
    remembered outcomes: the same verdict and message)."""
    source = (_BASELINES / "moe_layer_static.py").read_text()
    anchor = "        chunks = step.reshape(step.promote(part), tile_n)"
    assert anchor in source
    lie = (
        "        first = part.shape if e == 0 else first\n"
        "        part = step.assume_shape(part, first)\n"
    )
    v = verify(load_task("step/moe_layer_qwen"), source.replace(anchor, lie + anchor), seed=5)
    assert v.status == "invalid", v.feedback
    assert "assume_shape (node 125, line 28)" in v.feedback
    assert "dim 0 (n5_1 = 0) is [7] at run time" in v.feedback
