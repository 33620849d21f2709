"""Counters advanced by a runtime value (`c.increment(value)`): values, cost and the runs
that must fail (a negative amount, a counter leaving its register's range)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import dae
from dsl.dae.checks import MAX_INT
from interpreter.dae import BACKEND
from interpreter.dae.costs import case_cost
from interpreter.errors import ExecutionError
from interpreter.targets import load_target


def lengths_signature() -> dict:
    """lengths [B] int64 -> offsets [NOFF] int64 (NOFF = B + 1)."""
    return {
        "dialect": "dae",
        "inputs": [{"name": "lengths", "dtype": "int64", "shape": ["B"]}],
        "outputs": [{"name": "offsets", "dtype": "int64", "shape": ["NOFF"]}],
        "dims": {"B": None, "NOFF": None},
        "params": {},
    }


def reference_example() -> str:
    """The REFERENCE.md example of a counter advanced by data (offsets from lengths)."""
    text = (Path(dae.__file__).parent / "REFERENCE.md").read_text()
    part = text[text.index("A counter advanced by data") :]
    return re.search(r"```python\n(.*?)```", part, re.S).group(1)


def offsets_kernel():
    namespace: dict = {}
    exec(reference_example(), namespace)
    return namespace["kernel"]


def run(kernel, signature: dict, inputs: dict, outputs: dict, dims: dict) -> dict:
    program = BACKEND.load(dae.trace(kernel, signature))
    BACKEND.execute(program, inputs, outputs, dims)
    return outputs


def offsets_of(lengths: list[int]) -> np.ndarray:
    b = len(lengths)
    out = {"offsets": np.full(b + 1, -7, dtype=np.int64)}
    inputs = {"lengths": np.array(lengths, dtype=np.int64)}
    return run(offsets_kernel(), lengths_signature(), inputs, out, {"B": b, "NOFF": b + 1})[
        "offsets"
    ]


def test_reference_example_turns_lengths_into_offsets() -> None:
    np.testing.assert_array_equal(offsets_of([2, 0, 3, 1]), [0, 2, 2, 5, 6])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=40))
def test_offsets_equal_numpy_cumsum(lengths: list[int]) -> None:
    want = np.concatenate([[0], np.cumsum(lengths)])
    np.testing.assert_array_equal(offsets_of(lengths), want)


def _before_after_kernel(lengths, **params):
    """Per token: the counter before, after a runtime and a static increment, and between."""
    out = dae.output("offsets")
    c = dae.counter(5)
    with dae.loop(0, lengths.shape[0]) as b:
        n = dae.load(lengths, b)

        @dae.callback(b, "ite", b, n)
        def step(i, k):
            dae.store(out, (3 * i,), c.get())
            c.increment(k * 2)
            dae.store(out, (3 * i + 1,), c.get())
            c.increment(10)
            dae.store(out, (3 * i + 2,), c.get())

    return out


def test_get_sees_the_callbacks_own_increments_in_order() -> None:
    out = {"offsets": np.zeros(9, dtype=np.int64)}
    inputs = {"lengths": np.array([1, 0, 4], dtype=np.int64)}
    got = run(_before_after_kernel, lengths_signature(), inputs, out, {"B": 3, "NOFF": 9})
    # by hand: 5 -> +2 -> 7 -> +10 -> 17 | +0 -> 17 -> 27 | +8 -> 35 -> 45
    np.testing.assert_array_equal(got["offsets"], [5, 7, 17, 17, 17, 27, 27, 35, 45])


def segment_signature() -> dict:
    return {
        "dialect": "dae",
        "inputs": [
            {"name": "offsets", "dtype": "int64", "shape": ["NOFF"]},
            {"name": "values", "dtype": "int64", "shape": ["NNZ"]},
        ],
        "outputs": [{"name": "totals", "dtype": "int64", "shape": ["B"]}],
        "dims": {"NOFF": None, "NNZ": None, "B": None},
        "params": {},
    }


def _running_totals_kernel(offsets, values, **params):
    """totals[s] = the sum of every value of segments 0..s: one case adds each value to a
    counter, another (on the segment's end) reads it, so the two interleave in token order."""
    out = dae.output("totals")
    total = dae.counter(0)
    with dae.loop(1, offsets.shape[0]) as end:
        lo = dae.load(offsets, end - 1)
        hi = dae.load(offsets, end)
        with dae.loop(lo, hi) as item:
            v = dae.load(values, item)

            @dae.callback(item, "ite", v)
            def add(x):
                total.increment(x)

        @dae.callback(item, "end", end - 1)
        def close(s):
            dae.store(out, (s,), total.get())

    return out


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.integers(0, 1000), max_size=6), min_size=1, max_size=12))
def test_running_totals_across_two_cases_equal_numpy(segments: list[list[int]]) -> None:
    flat = np.array([x for seg in segments for x in seg], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in segments])]).astype(np.int64)
    b = len(segments)
    dims = {"NOFF": b + 1, "NNZ": len(flat), "B": b}
    got = run(
        _running_totals_kernel,
        segment_signature(),
        {"offsets": offsets, "values": flat},
        {"totals": np.zeros(b, dtype=np.int64)},
        dims,
    )
    np.testing.assert_array_equal(got["totals"], np.cumsum([sum(s) for s in segments]))


# ------------------------------------------------------------------ runs that must fail


def test_a_negative_runtime_amount_names_the_op_and_the_token() -> None:
    with pytest.raises(ExecutionError) as err:
        offsets_of([2, 1, -3, 4])
    assert str(err.value) == (
        "case 0 (advance) op 2 (increment): amount -3 at token 3 is outside"
        f" [0, {MAX_INT}]; a counter advances by a runtime amount >= 0"
    )  # token 0 is `first` (on the loop's beg); advance runs as tokens 1..4


def test_an_amount_beyond_a_register_is_refused_before_any_sum() -> None:
    with pytest.raises(ExecutionError, match=r"amount 1099511627776 at token 1 is outside"):
        offsets_of([2**40])


def test_a_counter_that_would_wrap_names_the_counter_and_the_token() -> None:
    with pytest.raises(ExecutionError) as err:
        offsets_of([MAX_INT, 0, MAX_INT, 5])
    assert str(err.value) == (
        "counter 0: after token 3 (case 0 (advance)) its value would be 4294967294,"
        f" outside a core register's +-{MAX_INT}"
    )


def test_a_static_increment_past_the_register_is_refused_too() -> None:
    def kernel(lengths, **params):
        out = dae.output("offsets")
        c = dae.counter(MAX_INT - 1)
        with dae.loop(0, lengths.shape[0]) as b:

            @dae.callback(b, "ite", b)
            def step(i):
                c.increment()
                dae.store(out, (i,), c.get())

        return out

    inputs = {"lengths": np.zeros(3, dtype=np.int64)}
    with pytest.raises(ExecutionError, match=r"^counter 0: after token 1 \(case 0 \(step\)\)"):
        run(
            kernel,
            lengths_signature(),
            inputs,
            {"offsets": np.zeros(3, np.int64)},
            {"B": 3, "NOFF": 3},
        )


# ------------------------------------------------------------------------------ cost


def test_a_runtime_increment_costs_what_a_static_one_does() -> None:
    """By hand on `dae_default`: `advance` is dispatch 4 + 2 pops + increment 1 + `i + 1` 1
    + store 1 = 9 cycles (`get` and the constant are free); `first` is dispatch 4 + 1 case
    tested before it + store 1 = 6. The core is the slower side at B = 4096 (the access
    side pushes 3 entries per iteration), so the run takes 6 + 9 * 4096 = 36,870 cycles
    plus the 240-cycle DRAM latency of the first length and a few pushes; a twin with a
    static `increment(3)` takes exactly as long."""
    target = load_target("dae_default")
    program = BACKEND.load(dae.trace(offsets_kernel(), lengths_signature()))
    dims = {"B": 4096, "NOFF": 4097}
    advance, first = program.cases
    assert case_cost(advance, 0, dims, target).cycles == 9
    assert case_cost(first, 1, dims, target).cycles == 6
    lengths = {"lengths": np.full(4096, 3, dtype=np.int64)}
    runtime = BACKEND.simulate(program, lengths, dims, target).cycles
    twin = BACKEND.load(dae.trace(_static_twin(reference_example()), lengths_signature()))
    assert BACKEND.simulate(twin, lengths, dims, target).cycles == runtime
    assert 36_870 + 240 <= runtime <= 36_870 + 260  # + DRAM latency of the first length


def _static_twin(source: str):
    namespace: dict = {}
    exec(source.replace("total.increment(k)", "total.increment(3)"), namespace)
    return namespace["kernel"]


def _two_counters_kernel(offsets, values, **params):
    """Two cases touch two counters, runtime and static amounts mixed; each records what it
    read, so the batched run can be compared with a one-token-at-a-time replay."""
    seen = dae.output("seen")
    closed = dae.output("closed")
    a, b = dae.counter(-3), dae.counter(7)
    with dae.loop(1, offsets.shape[0]) as end:
        lo = dae.load(offsets, end - 1)
        hi = dae.load(offsets, end)
        with dae.loop(lo, hi) as item:
            v = dae.load(values, item)

            @dae.callback(item, "ite", item, v)
            def add(j, x):
                a.increment(x * 2 + 1)
                b.increment(2)
                dae.store(seen, (j,), a.get() + b.get())

        @dae.callback(item, "end", end - 1, hi - lo)
        def close(s, n):
            b.increment(n)
            dae.store(closed, (s,), a.get() * 10 + b.get())
            a.increment(1)

    return seen, closed


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.integers(0, 50), max_size=5), min_size=1, max_size=10))
def test_batched_counters_equal_a_token_by_token_replay(segments: list[list[int]]) -> None:
    a, b, seen, closed = -3, 7, [], []
    for seg in segments:  # the program's token order, one callback at a time
        for x in seg:
            a, b = a + 2 * x + 1, b + 2
            seen.append(a + b)
        b += len(seg)
        closed.append(a * 10 + b)
        a += 1
    flat = np.array([x for seg in segments for x in seg], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in segments])]).astype(np.int64)
    signature = segment_signature()
    signature["outputs"] = [
        {"name": "seen", "dtype": "int64", "shape": ["NNZ"]},
        {"name": "closed", "dtype": "int64", "shape": ["B"]},
    ]
    n, nseg = len(flat), len(segments)
    got = run(
        _two_counters_kernel,
        signature,
        {"offsets": offsets, "values": flat},
        {"seen": np.zeros(n, dtype=np.int64), "closed": np.zeros(nseg, dtype=np.int64)},
        {"NOFF": nseg + 1, "NNZ": n, "B": nseg},
    )
    np.testing.assert_array_equal(got["seen"], seen)
    np.testing.assert_array_equal(got["closed"], closed)
