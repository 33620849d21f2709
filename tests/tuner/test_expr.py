"""The constraint language: what it computes, and that nothing outside the whitelist runs."""

from __future__ import annotations

import pytest

from tuner.errors import SpaceError
from tuner.expr import Constraint


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("a < b", {"a": 1, "b": 2}, True),
        ("a < b <= 2", {"a": 1, "b": 3}, False),
        ("a % 4 == 0 and not b > 3", {"a": 8, "b": 3}, True),
        ("a * b <= 64 or a == 1", {"a": 16, "b": 8}, False),
        ("min(a, b) * 2 == max(a, b)", {"a": 4, "b": 2}, True),
        ("len(p) == 3 and p[0] == 2", {"p": (2, 0, 1)}, True),
        ("pos(p, 0) < pos(p, 1)", {"p": (2, 1, 0)}, False),
        ("c in ('x', 'y')", {"c": "y"}, True),
        ("2 ** a <= 16", {"a": 4}, True),
        ("-a // 2 == -2 and abs(-a) == a", {"a": 3}, True),
    ],
)
def test_evaluates_like_python(text: str, env: dict, expected: bool) -> None:
    assert Constraint(text)(env) is expected


def test_names_are_the_parameters_read() -> None:
    assert Constraint("pos(p, 0) < a % b and True").names == {"p", "a", "b"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("__import__('os').system('true')", "call of"),
        ("open('f')", "call of 'open'"),
        ("a.__class__", "Attribute is not allowed"),
        ("(lambda: 1)()", "call of"),
        ("[x for x in a]", "ListComp is not allowed"),
        ("a if b else c", "IfExp is not allowed"),
        ("max(a, key=b)", "keyword argument"),
        ("a <", "syntax error"),
        ("a is b", "Is is not allowed"),
    ],
)
def test_rejects_everything_outside_the_whitelist(text: str, fragment: str) -> None:
    with pytest.raises(SpaceError) as info:
        Constraint(text)
    message = str(info.value)
    assert fragment in message and repr(text) in message and "\n" not in message


def test_unknown_parameter_is_named() -> None:
    with pytest.raises(SpaceError, match="constraint 'tile < tiles': unknown parameter 'tiles'"):
        Constraint("tile < tiles", known={"tile"})


def test_runtime_fault_is_one_line_with_the_values() -> None:
    with pytest.raises(
        SpaceError, match=r"'a % b == 0' failed on \{'a': 3, 'b': 0\}: ZeroDivision"
    ):
        Constraint("a % b == 0")({"a": 3, "b": 0})


def test_huge_exponent_is_refused() -> None:
    with pytest.raises(SpaceError, match="exponent 100000 is too large"):
        Constraint("2 ** a > 0")({"a": 100000})
