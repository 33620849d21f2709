"""The builtin compiler's text: a golden O3 program and what each level adds."""

from __future__ import annotations

import pytest

from dsl.dae.compiler import compile_spec
from dsl.errors import NotCovered

EB = ({"op": "embedding_bag", "mode": "sum"}, ("offsets", "indices", "table"))

GOLDEN_O3 = '''from dsl import dae


def kernel(offsets, indices, table, **params):
    """eb: O3, vectorised + bufferized + queue-aligned."""
    out = dae.output("out")
    D = out.shape[-1]
    row = dae.counter(0)  # output row, counted on the core (queue alignment)
    with dae.loop(1, offsets.shape[0]) as end:  # offsets: one per segment + 1
        seg = end - 1
        lo = dae.load(offsets, seg, nontemporal=True)
        hi = dae.load(offsets, end, nontemporal=True)
        with dae.loop(lo, hi) as item:
            idx = dae.load(indices, item, nontemporal=True)
            with dae.loop(0, D, lanes=8) as col:
                x = dae.load(table, idx, col, contiguous=True)
            @dae.callback(col, "end", dae.buffer(x))
            def add_row(r0):
                dae.accumulate(out, (row.get(), dae.arange(D)), r0, fn="add")
        @dae.callback(item, "beg")
        def init():
            dae.store(out, (row.get(), dae.arange(D)), 0.0)
        @dae.callback(item, "end")
        def finish():
            row.increment()
    return out
'''


def test_embedding_bag_o3_golden():
    assert compile_spec(*EB, level=3, title="eb") == GOLDEN_O3


@pytest.mark.parametrize(
    "level, present, absent",
    [
        (0, ['@dae.callback(col, "ite", seg, col, x)'], ["lanes=8", "dae.buffer", "dae.counter"]),
        (1, ["lanes=8", '@dae.callback(col, "ite", seg, col, x)'], ["dae.buffer", "dae.counter"]),
        (2, ['@dae.callback(col, "end", seg, dae.buffer(x))'], ["dae.counter", "contiguous"]),
        (3, ["dae.counter", "contiguous=True", "nontemporal=True"], ["seg, dae.buffer"]),
    ],
)
def test_each_level_adds_its_optimisation(level, present, absent):
    text = compile_spec(*EB, level=level)
    for snippet in present:
        assert snippet in text
    for snippet in absent:
        assert snippet not in text


def test_hints_can_be_switched_apart():
    text = compile_spec(*EB, level=3, contiguous=False, nontemporal=False)
    assert "dae.counter" in text and "contiguous" not in text and "nontemporal" not in text


def test_rows_without_reuse_are_non_temporal_and_reused_rows_are_not():
    kv = compile_spec({"op": "paged_kv_gather"}, ("block_offsets", "block_ids", "kv_cache"), 3)
    assert "kv_cache, idx, slot, col, contiguous=True, nontemporal=True" in kv
    eb = compile_spec(*EB, level=3)
    assert "table, idx, col, contiguous=True)" in eb


def test_unknown_level_is_not_covered():
    with pytest.raises(NotCovered, match="level 4"):
        compile_spec(*EB, level=4)
