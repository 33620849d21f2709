"""The builtin compiler's text: a golden O3 program and what each level adds."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.task import load_task
from dsl import dae
from dsl.dae.compiler import compile_spec, compile_task
from dsl.errors import NotCovered
from interpreter.dae import BACKEND

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
        mid = lo + (hi - lo) // 2 * 2  # whole groups of 2 rows
        with dae.loop(lo, mid, step=2) as group:
            idx0 = dae.load(indices, group, nontemporal=True)
            with dae.loop(0, D, lanes=8) as col0:
                x0 = dae.load(table, idx0, col0, contiguous=True)
            dae.push(col0, "end", dae.buffer(x0))
            idx1 = dae.load(indices, group + 1, nontemporal=True)
            with dae.loop(0, D, lanes=8) as col1:
                x1 = dae.load(table, idx1, col1, contiguous=True)
            dae.push(col1, "end", dae.buffer(x1))
            @dae.callback(col1, "end")
            def add_rows():
                r0 = dae.pop("float32", "buffer", D)
                r1 = dae.pop("float32", "buffer", D)
                dae.accumulate(out, (row.get(), dae.arange(D)), r0 + r1, fn="add")
        @dae.callback(group, "beg")
        def init():
            dae.store(out, (row.get(), dae.arange(D)), 0.0)
        with dae.loop(mid, hi) as item:  # the rest, one row at a time
            idx = dae.load(indices, item, nontemporal=True)
            with dae.loop(0, D, lanes=8) as col:
                x = dae.load(table, idx, col, contiguous=True)
            @dae.callback(col, "end", dae.buffer(x))
            def add_row(r0):
                dae.accumulate(out, (row.get(), dae.arange(D)), r0, fn="add")
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
        (0, ['@dae.callback(col, "ite", seg, col, x)'], ["lanes", "dae.buffer", "dae.counter"]),
        (
            1,
            ["lanes=lanes", '@dae.callback(col, "ite", seg, col, x)'],
            ["dae.buffer", "dae.counter"],
        ),
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


def test_gathered_rows_are_never_non_temporal():
    """Whether a row is read again is a property of the data (shared KV prefix blocks, Zipf
    bags) that the spec does not state; only offsets and index lists are read once."""
    kv = compile_spec({"op": "paged_kv_gather"}, ("block_offsets", "block_ids", "kv_cache"), 3)
    assert "kv_cache, idx, slot, col, contiguous=True)" in kv
    assert "block_ids, item, nontemporal=True)" in kv
    eb = compile_spec(*EB, level=3)
    assert "table, idx0, col0, contiguous=True)" in eb and "table, idx, col, contiguous=True)" in eb


def test_one_row_per_callback_is_the_plain_o3_row_callback():
    text = compile_spec(*EB, level=3, rows_per_callback=1)
    assert "dae.push" not in text and "group" not in text
    assert '@dae.callback(col, "end", dae.buffer(x))' in text
    with pytest.raises(NotCovered, match="several rows per callback need O3"):
        compile_spec(*EB, level=2, rows_per_callback=2)


@pytest.mark.parametrize(
    "spec, match",
    [
        ({"op": "embedding_bag", "mode": "sum", "padding_mode": "zeros"}, "'padding_mode'"),
        ({"op": "embedding_bag", "scale_grad_by_freq": True, "sparse": True}, "'scale_grad_by"),
        ({"op": "moe_gather", "topk": 2}, "moe_gather spec key\\(s\\) 'topk' are not"),
        ({"op": "message_passing", "mode": "std"}, "mode 'std'"),
        ({"op": "embedding_bag", "mode": "mean", "padding_idx": 0}, "padding_idx=0 with mode"),
        ({"op": "embedding_bag", "mode": "max", "weighted": True}, "mode 'sum' only"),
    ],
)
def test_what_the_compiler_does_not_understand_is_refused_not_ignored(spec, match):
    inputs = ("offsets", "indices", "table")
    with pytest.raises(NotCovered, match=match):
        compile_spec(spec, inputs, 3)


def test_min_starts_high_and_an_empty_max_segment_gets_zero():
    text = compile_spec(
        {"op": "message_passing", "mode": "min"}, ("offsets", "indices", "features"), 3
    )
    assert "3e+38)" in text and 'fn="min"' in text and "dae.minimum(r0, r1)" in text
    assert "dae.where(n > 0, 3e+38, 0.0)" in text
    sure = {"op": "message_passing", "mode": "max", "nonempty": True}
    assert "where" not in compile_spec(sure, ("offsets", "indices", "features"), 3)


def test_unknown_level_is_not_covered():
    with pytest.raises(NotCovered, match="level 4"):
        compile_spec(*EB, level=4)


def _run(name: str, level: int, inputs: dict, segments: int, width: int) -> np.ndarray:
    """Run the builtin program of suite task `name` on hand-made inputs."""
    task = load_task(f"dae/{name}")
    dims = {**task.full_dims(task.checks[0]), "NOFF": segments + 1}
    dims.update({"NNZ": len(inputs["indices"]), "B": segments, "V": segments})
    namespace: dict = {}
    exec(compile_task(task, level), namespace)
    program = BACKEND.load(dae.trace(namespace["kernel"], task.signature()))
    out = {"out": np.full((segments, width), np.nan, dtype=np.float32)}
    BACKEND.execute(program, inputs, out, dims)
    return out["out"]


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_padding_rows_add_nothing_in_odd_even_and_empty_bags(level):
    table = np.arange(20000 * 64, dtype=np.float32).reshape(20000, 64) % 97
    bags = [[5, 0, 7], [], [0], [3, 4, 0, 9], [0, 0]]
    offsets = np.cumsum([0] + [len(b) for b in bags]).astype(np.int64)
    indices = np.array(sum(bags, []), dtype=np.int64)
    got = _run("eb_padded", level, {"offsets": offsets, "indices": indices, "table": table}, 5, 64)
    want = [
        table[5] + table[7],
        0 * table[0],
        0 * table[0],
        table[3] + table[4] + table[9],
        0 * table[0],
    ]
    np.testing.assert_array_equal(got, np.stack(want))


@pytest.mark.parametrize("level", [0, 3])
@pytest.mark.parametrize("name, pick", [("mp_max_empty", np.max), ("mp_min", np.min)])
def test_segment_max_min_with_empty_segments(level, name, pick):
    features = np.random.default_rng(3).standard_normal((8192, 32), dtype=np.float32)
    segments = [[1, 2, 3], [], [4], [5, 6]]
    offsets = np.cumsum([0] + [len(s) for s in segments]).astype(np.int64)
    indices = np.array(sum(segments, []), dtype=np.int64)
    inputs = {"offsets": offsets, "indices": indices, "features": features}
    got = _run(name, level, inputs, 4, 32)
    want = [pick(features[s], axis=0) if s else np.zeros(32, np.float32) for s in segments]
    np.testing.assert_array_equal(got, np.stack(want))
