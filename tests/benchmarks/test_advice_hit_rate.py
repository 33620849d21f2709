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


DAE_SOURCE = """from dsl import dae


def kernel(offsets, indices, table, **params):
    out = dae.output("out")
    D = out.shape[-1]
    with dae.loop(1, offsets.shape[0]) as end:
        seg = end - 1
        lo = dae.load(offsets, seg)
        hi = dae.load(offsets, end)
        with dae.loop(0, D) as zcol:
            @dae.callback(zcol, "ite", seg, zcol)
            def init(s, d):
                dae.store(out, (s, d), 0.0)
        with dae.loop(lo, hi) as item:
            idx = dae.load(indices, item)
            with dae.loop(0, D) as col:
                x = dae.load(table, idx, col)
                @dae.callback(col, "ite", seg, col, x)
                def element(r, d, v0):
                    dae.accumulate(out, (r, d), v0, fn="add")
    return out
"""


def test_dae_lanes_advice_widens_only_the_named_callbacks_loop() -> None:
    advice = (
        "Critical path: 80% of 9 cycles wait for callback dispatch and pops, most in callback"
        " `def element(` (case 1); run the loop around `element` 8 lanes wide (`lanes=8` on"
        " its `dae.loop`): one dispatch and one vector op per 8 elements."
    )
    what, new = mechanical_change(advice, DAE_SOURCE)
    changed = [b for a, b in zip(DAE_SOURCE.splitlines(), new.splitlines(), strict=True) if a != b]
    assert changed == ["            with dae.loop(0, D, lanes=8) as col:"]
    assert what.startswith("lanes=8 on line(s)")


def test_dae_hint_advice_marks_the_named_loads_only() -> None:
    source = DAE_SOURCE.replace("dae.loop(0, D)", "dae.loop(0, D, lanes=8)")
    advice = "most in `dae.load(table, ...)` (stream 8); `contiguous=True` on `dae.load(table, ...)`: one"
    _, new = mechanical_change(advice, source)
    changed = [
        b.strip() for a, b in zip(source.splitlines(), new.splitlines(), strict=True) if a != b
    ]
    assert changed == ["x = dae.load(table, idx, col, contiguous=True)"]
    advice = (
        "`nontemporal=True` on the read-once loads `dae.load(offsets, ...)`, "
        "`dae.load(indices, ...)`: their lines then leave the caches"
    )
    _, new = mechanical_change(advice, source)
    changed = [
        b.strip() for a, b in zip(source.splitlines(), new.splitlines(), strict=True) if a != b
    ]
    assert changed == [
        "lo = dae.load(offsets, seg, nontemporal=True)",
        "hi = dae.load(offsets, end, nontemporal=True)",
        "idx = dae.load(indices, item, nontemporal=True)",
    ]


def test_dae_older_sentence_widens_every_callback_loop_and_compulsory_is_not_mechanical() -> None:
    _, new = mechanical_change(
        "Fewer, larger callbacks pay: vector loops (lanes=8), ...", DAE_SOURCE
    )
    assert new.count("lanes=8") == 2  # the init loop's callback and the element callback's
    compulsory = "the misses are compulsory (each line's first touch): only fewer bytes help"
    assert mechanical_change(compulsory, DAE_SOURCE) is None
