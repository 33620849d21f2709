"""The DAE IR on the shared skeleton: streams are `dsl.core.ir.Node`s, the program a
`ProgramBase`, and the access side runs on the shared pass walker, one rule per op."""

from __future__ import annotations

import numpy as np
import pytest

from dsl import dae
from dsl.core.ir import Node, Port, ProgramBase
from dsl.dae import load_ir
from dsl.dae.ir import Program
from dsl.errors import ValidationError
from interpreter.dae.access import AccessPass, AccessRun, QueueEntry, run_access
from interpreter.errors import ExecutionError
from tests.dsl.dae.helpers import eb_signature


def _eb_kernel(offsets, indices, table, **params):
    out = dae.output("out")
    D = out.shape[-1]
    with dae.loop(1, offsets.shape[0]) as end:
        lo = dae.load(offsets, end - 1)
        hi = dae.load(offsets, end)
        with dae.loop(lo, hi) as item:
            idx = dae.load(indices, item)
            with dae.loop(0, D, lanes=8) as col:
                x = dae.load(table, idx, col)

            @dae.callback(col, "end", end - 1, dae.buffer(x))
            def add_row(b, row):
                dae.accumulate(out, (b, dae.arange(D)), row)

        @dae.callback(item, "beg", end - 1)
        def init(b):
            dae.store(out, (b, dae.arange(D)), 0.0)

    return out


@pytest.fixture(scope="module")
def program() -> Program:
    return load_ir(dae.trace(_eb_kernel, eb_signature(d=8, n=5)))


def _inputs() -> tuple[dict, dict]:
    arrays = {
        "offsets": np.array([0, 2, 2, 5], dtype=np.int64),
        "indices": np.array([4, 1, 0, 3, 1], dtype=np.int64),
        "table": np.arange(40, dtype=np.float32).reshape(5, 8),
        "out": np.zeros((3, 8), dtype=np.float32),
    }
    return arrays, {"B": 3, "NOFF": 4, "NNZ": 5, "N": 5, "D": 8}


def test_streams_are_shared_nodes_reading_the_streams_they_name(program: Program) -> None:
    assert isinstance(program, ProgramBase)
    assert program.to_json()["dialect"] == "dae" and program.to_json()["version"] == 1
    assert program.nodes == program.streams
    ops = [(s.op, s.inputs, s.outputs) for s in program.nodes]
    assert ops[:3] == [("iv", (), ("int64",)), ("alu", (Port(0),), ("int64",)), ops[2]]
    load_lo = program.nodes[2]
    assert isinstance(load_lo, Node) and load_lo.op == "load" and load_lo.inputs == (Port(1),)
    assert load_lo.label() == "stream 2 (load)" and load_lo.memref == "offsets"
    (buffer,) = [s for s in program.nodes if s.op == "buffer"]
    x = program.nodes[buffer.source]
    assert buffer.inputs == (Port(x.id),) and buffer.outputs == ("float32",)


def test_load_ir_refuses_another_dialects_ir_in_one_line() -> None:
    with pytest.raises(ValidationError, match=r"^IR dialect is 'step', expected 'dae'$"):
        load_ir({"dialect": "step", "version": 1})


def test_one_ops_rule_is_overridden_and_the_rest_inherited(program: Program) -> None:
    """A subclass changes the `load` rule alone (torch.fx style): the table reads come out
    shifted, and every other stream (loop variables, offsets arithmetic) is untouched."""
    arrays, dims = _inputs()
    plain = run_access(program, arrays, dims)

    class Shifted(AccessPass):
        def op_load(self, node, inputs):
            (values,) = self.rules["load"](node, inputs, self.context)
            return [values + 100 if node.memref == "table" else values]

    run = AccessRun(program, [], [None] * len(program.streams), QueueEntry(None, None), [], dims)
    run.memrefs = arrays
    Shifted(program, run).run()
    for s in program.streams:
        shift = 100 if s.op in ("load", "buffer") and _reads_table(program, s) else 0
        np.testing.assert_array_equal(run.values[s.id], plain.values[s.id] + shift)


def _reads_table(program: Program, s) -> bool:
    while s.op == "buffer":
        s = program.streams[s.source]
    return s.memref == "table"


def test_loops_are_traversed_just_before_the_first_stream_that_needs_them(
    program: Program,
) -> None:
    arrays, dims = _inputs()
    seen = []

    class Watch(AccessPass):
        def call(self, node, inputs):
            out = super().call(node, inputs)
            seen.append((node.id, len(self.context.tus)))
            return out

    run = AccessRun(program, [], [None] * len(program.streams), QueueEntry(None, None), [], dims)
    run.memrefs = arrays
    Watch(program, run).run()
    # (stream, loops traversed when it ran): its own loop and every loop before it, and none
    # later than the last loop an earlier stream needed (`end - 1` for the callback, made
    # after the inner loops, finds them traversed already)
    want, needed = [], 0
    for s in program.streams:
        needed = max(needed, (s.tu if s.op != "buffer" else program.streams[s.source].tu) + 1)
        want.append((s.id, needed))
    assert seen == want and want[0] == (0, 1) and (8, 3) in want


def test_a_numpy_fault_in_a_rule_names_the_stream(program: Program) -> None:
    arrays, dims = _inputs()

    class Broken(AccessPass):
        def op_alu(self, node, inputs):
            raise ValueError("operands could not be broadcast")

    run = AccessRun(program, [], [None] * len(program.streams), QueueEntry(None, None), [], dims)
    run.memrefs = arrays
    with pytest.raises(ExecutionError) as err:
        Broken(program, run).run()
    assert str(err.value) == "stream 1 (alu): ValueError: operands could not be broadcast"


def test_a_bad_index_keeps_its_own_message(program: Program) -> None:
    arrays, dims = _inputs()
    arrays["indices"] = np.array([4, 1, 9, 3, 1], dtype=np.int64)
    with pytest.raises(ExecutionError) as err:
        run_access(program, arrays, dims)
    assert str(err.value) == (
        "stream 7 (load table): index 9 out of bounds for dim 0 of size 5 (element [2, 0])"
    )
