"""SAM on the shared skeleton: a primitive is a `dsl.core.ir.Node` whose inputs are shared
ports (named as the JSON names them), and a graph runs on the shared pass walker with SAM's
rules, recording what the timing and counting passes read."""

from __future__ import annotations

import numpy as np
import pytest

from dsl import sam
from dsl.core import ir as core
from dsl.sam.ir import Port
from interpreter.errors import ExecutionError
from interpreter.sam.execute import GraphPass, run_program
from interpreter.sam.inputs import load_inputs
from interpreter.sam.rules import Context
from tests.dsl.sam.test_builder import SIG, spmv

B = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0], [0.0, 3.0, 4.0]])
C = np.array([1.0, 10.0, 100.0])
DIMS = {"N": 3, "M": 3}


@pytest.fixture(scope="module")
def ir() -> dict:
    return sam.trace(spmv, SIG)


def test_primitives_are_shared_nodes_reading_ports_by_index_and_name(ir: dict) -> None:
    program = sam.load_ir(ir)
    nodes = program.graphs[0].nodes
    by_id = {n.id: n for n in nodes}
    assert all(isinstance(n, core.Node) for n in nodes)
    for node in nodes:
        for port in node.inputs:
            assert isinstance(port, Port)
            assert by_id[port.node].outputs[port.index][0] == port.name
            assert port in by_id[port.node].ports()
    scan_j = [n for n in nodes if n.op == "scan"][-1]
    assert scan_j.ports() == (Port(scan_j.id, 0, "crd"), Port(scan_j.id, 1, "ref"))
    assert scan_j.label() == f"node {scan_j.id} (scan)"
    # the wire form still names a port by node and name, so the JSON loads back unchanged
    assert program.to_json() == ir
    assert all(isinstance(p[1], str) for n in ir["graphs"][0]["nodes"] for p in n["inputs"])


def test_a_graph_runs_on_the_walker_and_records_every_node(ir: dict) -> None:
    program = sam.load_ir(ir)
    tensors, (run,) = run_program(program, {"B": B, "c": C}, DIMS)
    np.testing.assert_allclose(tensors["y"].to_dense((3,)), 2.0 * (B @ C))
    assert set(run.inputs) == set(run.results) == {n.id for n in program.graphs[0].nodes}
    for node in program.graphs[0].nodes:
        assert len(run.inputs[node.id]) == len(node.inputs)
        assert len(run.results[node.id].outputs) == len(node.outputs)
    assert set(run.written) == {"y"}


def test_a_primitive_rule_is_overridden_alone(ir: dict) -> None:
    """A subclass changes `alu` (torch.fx style): the product's values are doubled, so y
    doubles, and the other primitives keep their rules."""
    program = sam.load_ir(ir)
    graph = program.graphs[0]

    class Doubled(GraphPass):
        def op_alu(self, node, inputs):
            result = self.rules["alu"](node, inputs, self.context)
            if node.attrs["op"] == "mul":
                (s,) = result.outputs
                result.outputs = [type(s)(s.ctl, s.val * 2)]
            return result

    _, (plain,) = run_program(program, {"B": B, "c": C}, DIMS)
    walker = Doubled(graph, Context(load_inputs(program, {"B": B, "c": C}, DIMS), program.tensors))
    values = walker.run()
    assert set(values) == {p for n in graph.nodes for p in n.ports()}
    for node in graph.nodes:
        for got, want in zip(walker.record.inputs[node.id], plain.inputs[node.id], strict=True):
            np.testing.assert_array_equal(got.ctl, want.ctl)
            doubles = node.op in ("reduce", "write_vals") or (
                node.op == "alu" and node.attrs["op"] == "scalar_mul"
            )
            np.testing.assert_array_equal(got.val, want.val * (2 if doubles else 1))


def test_a_malformed_stream_is_one_line_naming_the_node(ir: dict) -> None:
    program = sam.load_ir(ir)
    graph = program.graphs[0]
    (reduce,) = [n for n in graph.nodes if n.op == "reduce"]

    class Broken(GraphPass):
        def op_reduce(self, node, inputs):
            raise IndexError("index 7 is out of bounds")

    ctx = Context(load_inputs(program, {"B": B, "c": C}, DIMS), program.tensors)
    with pytest.raises(ExecutionError) as err:
        Broken(graph, ctx).run()
    assert str(err.value) == (
        f"node {reduce.id} (reduce): its input streams are malformed"
        " (IndexError: index 7 is out of bounds)"
    )
