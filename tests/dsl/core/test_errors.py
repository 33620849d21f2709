"""One error hierarchy, one argument order, one-line messages naming what and where."""

from __future__ import annotations

import pickle

import pytest

import dsl.errors
from dsl.core import errors as core
from dsl.core.errors import DialectError, ProgramError, RuleError, ValidationError


def test_old_import_path_names_the_same_classes() -> None:
    for name in ("DialectError", "ProgramError", "ValidationError", "NotCovered", "RuleError"):
        assert getattr(dsl.errors, name) is getattr(core, name)


def test_message_puts_node_and_port_first_and_str_adds_the_line() -> None:
    e = ProgramError("needs a stream of tiles", where="map", port="x", line=7)
    assert e.reason == "needs a stream of tiles"
    assert e.message == "map input 'x': needs a stream of tiles"
    assert str(e) == "line 7: map input 'x': needs a stream of tiles"
    assert str(ValidationError("IR has no nodes")) == "IR has no nodes"
    assert str(ProgramError("bad", line=3)) == "line 3: bad"
    assert str(DialectError("bad", port="sel")) == "input 'sel': bad"


def test_a_rule_error_becomes_a_program_or_validation_error_at_its_place() -> None:
    rule = RuleError("x has rank 1", "x")
    assert isinstance(rule, ValueError) and isinstance(rule, DialectError)
    built = rule.located(ProgramError, where="accum", line=12)
    assert type(built) is ProgramError and str(built) == "line 12: accum input 'x': x has rank 1"
    loaded = rule.located(ValidationError, where="node 4 (accum)")
    assert str(loaded) == "node 4 (accum) input 'x': x has rank 1"
    assert str(RuleError("no port").located(ValidationError, "node 1 (zip)")) == (
        "node 1 (zip): no port"
    )


def test_the_line_can_be_filled_in_later() -> None:
    e = ProgramError("missing argument 'fn'", where="map")
    e.line = 9  # what the DAE tracer and the sandbox harness do
    with pytest.raises(ProgramError, match="^line 9: map: missing argument 'fn'$"):
        raise e


def test_errors_cross_a_process_boundary_whole() -> None:
    """Verifier workers send errors back pickled: the place must survive the trip."""
    for e in (ProgramError("bad", where="map", port="x", line=3), RuleError("rank 1", "x")):
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is type(e) and str(back) == str(e) and back.port == "x"
