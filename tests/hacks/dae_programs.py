"""DAE hack programs (text, as an agent would write them), importable by the tests and by a
script run against the code as it was before (so this module imports nothing of the
project)."""

from __future__ import annotations

SPLIT_ROWS = '''
from dsl import dae


def kernel(block_offsets, block_ids, kv_cache, **params):
    """Paged KV gather (D = 64) with each row split: the access side loads and pushes the
    first 32 columns, the callback loads the other 32 itself. When callback loads bypassed
    the memory model, this halved the DRAM traffic the simulator saw."""
    out = dae.output("out")
    BS = kv_cache.shape[1]
    row = dae.counter(0)
    with dae.loop(1, block_offsets.shape[0]) as end:
        lo = dae.load(block_offsets, end - 1, nontemporal=True)
        hi = dae.load(block_offsets, end, nontemporal=True)
        with dae.loop(lo, hi) as item:
            idx = dae.load(block_ids, item, nontemporal=True)
            with dae.loop(0, BS) as slot:
                with dae.loop(0, 32, lanes=8) as col:
                    x = dae.load(kv_cache, idx, slot, col, contiguous=True, nontemporal=True)

                @dae.callback(col, "end", idx, slot, dae.buffer(x))
                def add_row(b, s, first):
                    r = row.get()
                    dae.store(out, (r, dae.arange(32)), first)
                    upper = dae.arange(32) + 32
                    dae.store(out, (r, upper), dae.load(kv_cache, b, s, upper))
                    row.increment()

    return out
'''

CORE_ROW_LOADS = '''
from dsl import dae


def kernel(offsets, indices, table, **params):
    """EmbeddingBag sum with every row loaded inside the callback: the access side only
    pushes row numbers, so no traversal unit ever waits for a table row."""
    out = dae.output("out")
    D = out.shape[-1]
    row = dae.counter(0)
    with dae.loop(1, offsets.shape[0]) as end:
        lo = dae.load(offsets, end - 1, nontemporal=True)
        hi = dae.load(offsets, end, nontemporal=True)
        with dae.loop(lo, hi) as item:
            idx = dae.load(indices, item, nontemporal=True)

            @dae.callback(item, "ite", idx)
            def add_row(i):
                cols = dae.arange(D)
                dae.accumulate(out, (row.get(), cols), dae.load(table, i, cols))

        @dae.callback(item, "beg")
        def init():
            dae.store(out, (row.get(), dae.arange(D)), 0.0)

        @dae.callback(item, "end")
        def next_bag():
            row.increment()

    return out
'''

# The access side reading the output it is meant to produce: in the check the output holds
# poison, in the simulation zeros, and the simulator reuses the checked access run (its
# addresses and values), so only the rule that the access side reads inputs keeps the two
# the same run. Its indices come from the output: a wrong program, and one timed on
# addresses the hardware would never see.
ACCESS_READS_OUTPUT = """
from dsl import dae


def kernel(offsets, indices, table, **params):
    out = dae.output("out")
    with dae.loop(0, 4) as b:
        row = dae.load(out, b, 0)
        dae.buffer(row)
    return out
"""


def wide_lanes(o2: str) -> str:
    """The honest O2 program with a 16-lane row loop (twice the chip's vector length)."""
    return _edit(
        o2, "with dae.loop(0, D, lanes=lanes) as col:", "with dae.loop(0, D, lanes=16) as col:"
    )


def huge_step(o3: str) -> str:
    """The honest O3 program with its row-pair loop stepping 2**70 (once an OverflowError)."""
    old = "with dae.loop(lo, mid, step=2) as group:"
    return _edit(o3, old, "with dae.loop(lo, mid, step=2**70) as group:")


def _edit(source: str, old: str, new: str) -> str:
    if old not in source:
        raise AssertionError(f"the compiler's output changed: {old!r} is gone")
    return source.replace(old, new, 1)
