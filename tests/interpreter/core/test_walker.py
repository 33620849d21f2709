"""The pass walker: dispatch by op, per-op overrides, re-running from a partial environment,
dropping dead values, and one-line errors naming the node."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

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
