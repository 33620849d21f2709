"""The token-string helpers themselves (so golden tests can trust them)."""

from __future__ import annotations

from tests.interpreter.step.tokens import parse, render


def test_parse_render_round_trip_with_empty_runs() -> None:
    for text in ["1 2 S1 3 S2 D", "1 S1 S1 2 S2 D", "D", "S1 D", "1 2 3 D", "{0,2} {1} S1 D"]:
        assert render(parse(text, 3)) == text


def test_parse_fuses_stops_onto_values() -> None:
    s = parse("1 S1 S2 D")
    assert s.stop.tolist() == [1, 2] and s.has_value.tolist() == [True, False]
