"""The pass walker: dispatch by op, per-op overrides, re-running from a partial environment,
dropping dead values, and one-line errors naming the node."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl.core.ir import Node, Port
from interpreter.core.walker import Walker
from interpreter.errors import ExecutionError


@dataclass
class Graph:
    nodes: tuple[Node, ...]


# (3 + 4) * 4, then split into quotient and remainder by 5: q = 5, r = 3
GRAPH = Graph(
    (
        Node(0, "const", (), {"value": 3}, ("int",)),
        Node(1, "const", (), {"value": 4}, ("int",)),
        Node(2, "add", (Port(0), Port(1)), {}, ("int",)),
        Node(3, "mul", (Port(2), Port(1)), {}, ("int",)),
        Node(4, "divmod", (Port(3),), {"by": 5}, ("int", "int")),
    )
)


class Counting(dict):
    """Rules that record which nodes ran."""

    def __init__(self) -> None:
        self.ran: list[int] = []

        def rule(fn):
            def run(node: Node, ins: list, ctx: object) -> list:
                self.ran.append(node.id)
                return fn(node, ins)

            return run

        super().__init__(
            const=rule(lambda n, ins: [n.attrs["value"]]),
            add=rule(lambda n, ins: [ins[0] + ins[1]]),
            mul=rule(lambda n, ins: [ins[0] * ins[1]]),
            divmod=rule(lambda n, ins: list(divmod(ins[0], n.attrs["by"]))),
        )


def test_run_dispatches_every_node_in_order() -> None:
    rules = Counting()
    values = Walker(GRAPH, rules).run()
    assert values[Port(2)] == 7 and values[Port(3)] == 28
    assert (values[Port(4, 0)], values[Port(4, 1)]) == (5, 3)
    assert rules.ran == [0, 1, 2, 3, 4]


def test_rerun_from_a_partial_environment_runs_only_what_is_missing() -> None:
    rules = Counting()
    values = Walker(GRAPH, rules).run({Port(2): 10, Port(1): 4})
    assert values[Port(3)] == 40 and values[Port(4, 1)] == 0
    assert rules.ran == [0, 3, 4]  # node 0 has no value given; 1 and 2 are not re-run


def test_without_keep_only_unread_values_survive() -> None:
    values = Walker(GRAPH, Counting()).run(keep=False)
    assert values == {Port(4, 0): 5, Port(4, 1): 3}


def test_a_subclass_overrides_one_op_and_the_context_reaches_rules() -> None:
    class Saturating(Walker):
        def op_mul(self, node: Node, ins: list) -> list:
            return [min(ins[0] * ins[1], self.context)]

    values = Saturating(GRAPH, Counting(), context=20).run()
    assert values[Port(3)] == 20 and values[Port(4, 0)] == 4


def test_errors_name_the_node() -> None:
    rules = Counting()
    rules["divmod"] = lambda n, ins, ctx: [ins[0], [][ins[0]]]
    with pytest.raises(ExecutionError, match=r"^divmod \(node 4\): IndexError: list index"):
        Walker(GRAPH, rules).run()

    rules["divmod"] = lambda n, ins, ctx: [1]
    with pytest.raises(ExecutionError, match="returned 1 values for 2 outputs"):
        Walker(GRAPH, rules).run()

    del rules["divmod"]
    with pytest.raises(ExecutionError, match="op 'divmod' has no rule in this pass"):
        Walker(GRAPH, rules).run()


def test_an_execution_error_keeps_its_class_when_it_names_the_node() -> None:
    class Named(ExecutionError):
        pass

    def fail(node: Node, ins: list, ctx: object) -> list:
        raise Named(f"{node.label()}: out of bounds")

    rules = Counting()
    rules["add"] = fail
    with pytest.raises(Named, match=r"^add \(node 2\): out of bounds$"):
        Walker(GRAPH, rules).run()
    rules["add"] = lambda node, ins, ctx: (_ for _ in ()).throw(ExecutionError("overflow"))
    with pytest.raises(ExecutionError, match=r"^add \(node 2\): overflow$"):
        Walker(GRAPH, rules).run()


@st.composite
def dags(draw) -> tuple[Graph, set[int]]:
    """A random program of constants and sums (inputs name earlier nodes), and a random set
    of nodes whose values are handed in as a partial environment."""
    n = draw(st.integers(1, 12))
    nodes = []
    for i in range(n):
        k = draw(st.integers(0, min(i, 3)))
        ins = draw(st.lists(st.integers(0, i - 1), min_size=k, max_size=k)) if i else []
        op = "sum" if ins else "const"
        nodes.append(Node(i, op, tuple(Port(j) for j in ins), {"value": i + 1}, ("int",)))
    return Graph(tuple(nodes)), set(draw(st.lists(st.integers(0, n - 1), max_size=n)))


def _direct(graph: Graph) -> dict[int, int]:
    value: dict[int, int] = {}
    for node in graph.nodes:
        value[node.id] = sum(value[p.node] for p in node.inputs) or node.attrs["value"]
    return value


@settings(max_examples=80, deadline=None)
@given(dags())
def test_rerun_from_any_partial_environment_gives_the_full_runs_values(case) -> None:
    graph, given_ids = case
    ran: list[int] = []

    def rule(node: Node, ins: list, ctx: object) -> list:
        ran.append(node.id)
        return [sum(ins) or node.attrs["value"]]

    truth = _direct(graph)
    values = Walker(graph, {"const": rule, "sum": rule}).run({Port(i): truth[i] for i in given_ids})
    assert values == {Port(i): v for i, v in truth.items()}
    assert ran == [i for i in range(len(graph.nodes)) if i not in given_ids]


def test_an_input_never_computed_is_named_and_each_op_is_looked_up_once() -> None:
    """A node reading a port no node produced fails naming both; a walker looks each op's
    rule (or override) up once, so one op's nodes all run the same rule, and an op without
    a rule fails at every node of it."""
    dangling = Graph(
        (
            Node(0, "const", (), {"value": 1}, ("int",)),
            Node(1, "add", (Port(0), Port(7, 1)), {}, ("int",)),
        )
    )
    with pytest.raises(
        ExecutionError, match=r"add \(node 1\): input from node 7 output 1 was never computed"
    ):
        Walker(dangling, Counting()).run()
    looked_up: list[str] = []

    class Rules(Counting):
        def get(self, op, default=None):
            looked_up.append(op)
            return super().get(op, default)

    walker = Walker(Graph(GRAPH.nodes[:4]), Rules())
    assert walker.run()[Port(3)] == 28 and sorted(looked_up) == ["add", "const", "mul"]
    missing = Walker(Graph((Node(0, "nop", (), {}, ("int",)),)), Rules())
    for _ in range(2):
        with pytest.raises(ExecutionError, match="op 'nop' has no rule"):
            missing.run()
