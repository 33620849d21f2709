"""The IR base: ports, node labels and the JSON header every dialect checks the same way."""

from __future__ import annotations

import pytest

from dsl.core.errors import ValidationError
from dsl.core.ir import Node, Port, check_header
from dsl.step.ir import Program


def test_node_label_and_ports() -> None:
    n = Node(3, "partition", (Port(1), Port(2, 1)), {}, ("a", "b"), line=14)
    assert n.label() == "partition (node 3, line 14)"
    assert n.ports() == (Port(3, 0), Port(3, 1))
    assert Node(0, "sink", (Port(2),), {}).ports() == ()
    assert Node(0, "sink", (), {}).label() == "sink (node 0)"


@pytest.mark.parametrize(
    ("ir", "message"),
    [
        ([], "IR must be a JSON object"),
        ({"dialect": "sam", "version": 1}, "IR dialect is 'sam', expected 'step'"),
        (
            {"dialect": "step", "version": 0},
            "IR is step version 0, which this build no longer reads (it reads version 1);"
            " rebuild the program from its source",
        ),
        ({"dialect": "step", "version": 2}, "IR version 2 is not step version 1"),
        ({"dialect": "step", "version": True}, "IR version True is not step version 1"),
        ({"dialect": "step", "version": "1"}, "IR version '1' is not step version 1"),
        ({"dialect": "step", "version": 1, "run": "me"}, "IR has unknown keys ['run']"),
    ],
)
def test_check_header_refuses_with_one_line(ir: object, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_header(ir, "step", 1, keys=("nodes",))
    assert str(info.value) == message


def test_program_header_is_what_its_json_opens_with() -> None:
    assert Program.header() == {"dialect": "step", "version": 1}
    ir = {"dialect": "step", "version": 1, "nodes": []}
    assert Program.check_header(ir) is ir
