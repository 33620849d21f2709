"""The execute side on the shared skeleton: a case's ops are `dsl.core.ir.Node`s reading
each other's results through ports, and each case runs on the shared pass walker, one rule
per op, over all its tokens at once."""

from __future__ import annotations

import numpy as np
import pytest

from dsl import dae
from dsl.core.ir import Node, Port
from dsl.dae import load_ir
from dsl.dae.ir import OpNode, Program
from interpreter.dae import BACKEND, execute
from interpreter.errors import ExecutionError
from tests.dsl.dae.helpers import eb_signature
from tests.interpreter.dae.test_access_pass import _eb_kernel, _inputs


@pytest.fixture(scope="module")
def program() -> Program:
    return load_ir(dae.trace(_eb_kernel, eb_signature(d=8, n=5)))


def test_a_cases_ops_are_shared_nodes_reading_results_by_port(program: Program) -> None:
    add_row = program.cases[0]
    assert add_row.name == "add_row" and add_row.nodes is add_row.nodes  # built once
    nodes = add_row.nodes
    assert all(isinstance(n, OpNode) and isinstance(n, Node) for n in nodes)
    assert [(n.op, n.outputs) for n in nodes] == [
        ("pop", ("int64",)),
        ("pop", ("float32",)),
        ("arange", (None,)),
        ("accumulate", ()),  # no result: nothing reads it
    ]
    # accumulate(out, (b, arange), row) reads SSA ids 0, 2, 1: the ops at those positions
    assert nodes[3].inputs == (Port(0), Port(2), Port(1))
    assert nodes[3].fields is add_row.ops[3] and nodes[3].label() == "op 3 (accumulate)"


def test_the_walked_cases_compute_the_embedding_bag(program: Program) -> None:
    arrays, dims = _inputs()
    out = arrays.pop("out")
    BACKEND.execute(program, arrays, {"out": out}, dims)
    table, offsets, indices = arrays["table"], arrays["offsets"], arrays["indices"]
    want = np.stack(
        [table[indices[a:b]].sum(axis=0) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    )
    np.testing.assert_array_equal(out, want)


def test_a_numpy_fault_in_a_rule_names_the_case_and_op(
    program: Program, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(node, inputs, cx):
        raise ValueError("operands could not be broadcast")

    monkeypatch.setitem(execute._RULES, "arange", broken)
    arrays, dims = _inputs()
    out = arrays.pop("out")
    with pytest.raises(ExecutionError) as err:
        BACKEND.execute(program, arrays, {"out": out}, dims)
    assert str(err.value) == (
        "case 0 (add_row) op 2 (arange): ValueError: operands could not be broadcast"
    )
