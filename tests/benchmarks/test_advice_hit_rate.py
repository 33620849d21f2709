"""The hit-rate script reads the advice's mechanical change from the sentence alone and
makes it to the program text (the full run is `python -m benchmarks.perf.advice_hit_rate`)."""

from __future__ import annotations

from benchmarks.perf.advice_hit_rate import mechanical_change, summary

SOURCE = (
    "from dsl import step\n\n\n"
    "@step.tunable(tile_rows=[8, 16, 32])\n"
    "def kernel(a, b, tile_rows=16):\n"
    "    a_t = step.linear_offchip_load(a, (tile_rows, 128))  # rows\n"
    '    c = step.map([a_t, b], "matmul")  # one tile per row block\n'
    '    d = step.map(c, "exp", compute=2)\n'
    '    return step.linear_offchip_store(d, "c")\n'
)


def test_raise_compute_is_added_to_the_call_on_the_named_line() -> None:
    advice = "Critical path: most in map (node 4, line 7); raise its compute= from 1 to 40 (9 free)"
    what, new = mechanical_change(advice, SOURCE)
    assert what == "compute=40 on line 7"
    assert new.splitlines()[6] == (
        '    c = step.map([a_t, b], "matmul", compute=40)  # one tile per row block'
    )


def test_an_existing_compute_is_replaced_and_the_old_sentence_form_parses() -> None:
    advice = "map (node 5, line 8) is the critical op: ...; raise its compute= from 2 to 3."
    _, new = mechanical_change(advice, SOURCE)
    assert new.splitlines()[7] == '    d = step.map(c, "exp", compute=3)'


def test_tile_advice_doubles_or_halves_the_first_tile_parameter() -> None:
    _, larger = mechanical_change("feed it fewer, larger ones (larger tiles)", SOURCE)
    assert "def kernel(a, b, tile_rows=32):" in larger
    _, smaller = mechanical_change("smaller tiles overlap the transfers", SOURCE)
    assert "def kernel(a, b, tile_rows=8):" in smaller


def test_judgement_advice_is_not_mechanical_and_the_rate_counts_only_applied() -> None:
    assert mechanical_change("cut off-chip re-reads (reuse tiles on chip)", SOURCE) is None
    rows = [
        {"kind": "applied", "hit": True},
        {"kind": "applied", "hit": False},
        {"kind": "not mechanical"},
    ]
    assert summary(rows) == {
        "tasks": 3,
        "applied": 2,
        "hits": 1,
        "not_mechanical": 1,
        "hit_rate": 0.5,
    }
