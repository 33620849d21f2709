"""Functional runs against PyTorch, and the queue protocol / deadlock / bounds checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import dae
from dsl.dae.compiler import compile_spec
from interpreter.dae import BACKEND
from interpreter.dae.execute import _ACCUMULATE, Effect, _apply
from interpreter.errors import ExecutionError
from interpreter.targets import load_target
from tests.dsl.dae.helpers import copy_kernel, copy_signature, eb_signature

# The default model with only the queue depths budgeted (no resource limit in the way).
TARGET = {
    **load_target("dae_default"),
    "budget": {"control_queue_entries": 64, "data_queue_entries": 64},
}


def build(source_or_kernel, signature):
    if callable(source_or_kernel):
        kernel = source_or_kernel
    else:
        namespace: dict = {}
        exec(source_or_kernel, namespace)
        kernel = namespace["kernel"]
    return BACKEND.load(dae.trace(kernel, signature))


def run(program, inputs, out_shape, dims, dtype=np.float32, target=TARGET):
    out = np.full(out_shape, np.nan if dtype == np.float32 else -1, dtype=dtype)
    BACKEND.execute(program, inputs, {"out": out}, dims, target=target)
    return out


def random_bags(rng, bags, n, d, min_len=0):
    lengths = rng.integers(min_len, 7, bags)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    nnz = int(offsets[-1])
    indices = rng.integers(0, n, nnz).astype(np.int64)
    table = rng.standard_normal((n, d)).astype(np.float32)
    dims = {"B": bags, "NOFF": bags + 1, "NNZ": nnz, "N": n, "D": d}
    return {"offsets": offsets, "indices": indices, "table": table}, dims


@settings(max_examples=12, deadline=None)
@given(
    level=st.integers(0, 3),
    mode=st.sampled_from(["sum", "mean", "max"]),
    d=st.sampled_from([5, 8, 13, 24]),
    seed=st.integers(0, 2**16),
)
def test_embedding_bag_matches_torch_at_every_level(level, mode, d, seed):
    """Tail masks (d not a multiple of 8), empty bags (sum/mean) and every level."""
    rng = np.random.default_rng(seed)
    inputs, dims = random_bags(rng, bags=9, n=40, d=d, min_len=1 if mode == "max" else 0)
    source = compile_spec({"op": "embedding_bag", "mode": mode}, tuple(inputs), level)
    program = build(source, eb_signature(d=d, n=40))
    got = run(program, inputs, (9, d), dims)
    t = {k: torch.from_numpy(v) for k, v in inputs.items()}
    want = F.embedding_bag(
        t["indices"], t["table"], t["offsets"], mode=mode, include_last_offset=True
    ).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_csr_spmm_matches_torch_sparse_mm(level):
    rng = np.random.default_rng(level)
    rows, cols, d = 12, 30, 11
    lengths = rng.integers(0, 6, rows)
    rowptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    nnz = int(rowptr[-1])
    inputs = {
        "rowptr": rowptr,
        "colidx": rng.integers(0, cols, nnz).astype(np.int64),
        "values": rng.standard_normal(nnz).astype(np.float32),
        "x": rng.standard_normal((cols, d)).astype(np.float32),
    }
    signature = {
        "inputs": [
            {"name": "rowptr", "dtype": "int64", "shape": ["NOFF"]},
            {"name": "colidx", "dtype": "int64", "shape": ["NNZ"]},
            {"name": "values", "dtype": "float32", "shape": ["NNZ"]},
            {"name": "x", "dtype": "float32", "shape": ["N", "D"]},
        ],
        "outputs": [{"name": "out", "dtype": "float32", "shape": ["R", "D"]}],
        "dims": {"R": None, "NOFF": None, "NNZ": None, "N": cols, "D": d},
    }
    program = build(compile_spec({"op": "spmm"}, tuple(inputs), level), signature)
    dims = {"R": rows, "NOFF": rows + 1, "NNZ": nnz, "N": cols, "D": d}
    got = run(program, inputs, (rows, d), dims)
    t = {k: torch.from_numpy(v) for k, v in inputs.items()}
    a = torch.sparse_csr_tensor(t["rowptr"], t["colidx"], t["values"], size=(rows, cols))
    np.testing.assert_allclose(got, torch.sparse.mm(a, t["x"]).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
@pytest.mark.parametrize("bs", [1, 3])
def test_paged_kv_gather_matches_torch_indexing(level, bs):
    rng = np.random.default_rng(bs)
    seqs, nb, d = 4, 20, 9
    blocks = rng.integers(0, 4, seqs)
    offsets = np.concatenate([[0], np.cumsum(blocks)]).astype(np.int64)
    nblk = int(offsets[-1])
    inputs = {
        "block_offsets": offsets,
        "block_ids": rng.choice(nb, nblk, replace=False).astype(np.int64),
        "kv_cache": rng.standard_normal((nb, bs, d)).astype(np.float32),
    }
    signature = {
        "inputs": [
            {"name": "block_offsets", "dtype": "int64", "shape": ["NOFF"]},
            {"name": "block_ids", "dtype": "int64", "shape": ["NBLK"]},
            {"name": "kv_cache", "dtype": "float32", "shape": ["NB", "BS", "D"]},
        ],
        "outputs": [{"name": "out", "dtype": "float32", "shape": ["NTOK", "D"]}],
        "dims": {"NOFF": None, "NBLK": None, "NTOK": None, "NB": nb, "BS": bs, "D": d},
    }
    program = build(compile_spec({"op": "paged_kv_gather"}, tuple(inputs), level), signature)
    dims = {"NOFF": seqs + 1, "NBLK": nblk, "NTOK": nblk * bs, "NB": nb, "BS": bs, "D": d}
    got = run(program, inputs, (nblk * bs, d), dims)
    t = {k: torch.from_numpy(v) for k, v in inputs.items()}
    want = torch.index_select(t["kv_cache"], 0, t["block_ids"]).reshape(-1, d)
    np.testing.assert_array_equal(got, want.numpy())


def test_copy_program_and_determinism():
    program = build(copy_kernel, copy_signature(5))
    x = np.array([3, 1, 4, 1, 5], dtype=np.int64)
    first = run(program, {"x": x}, (5,), {"N": 5}, dtype=np.int64)
    again = run(program, {"x": x}, (5,), {"N": 5}, dtype=np.int64)
    np.testing.assert_array_equal(first, x)
    np.testing.assert_array_equal(first, again)


# ------------------------------------------------------------------ protocol and deadlock


def _int_signature(n: int = 8) -> dict:
    return {
        "inputs": [
            {"name": "x", "dtype": "int64", "shape": ["N"]},
            {"name": "f", "dtype": "float32", "shape": ["N"]},
        ],
        "outputs": [{"name": "out", "dtype": "int64", "shape": ["N"]}],
        "dims": {"N": n},
    }


def _execute(kernel, n=8, target=TARGET):
    program = build(kernel, _int_signature(n))
    inputs = {"x": np.arange(n, dtype=np.int64), "f": np.ones(n, dtype=np.float32)}
    return run(program, inputs, (n,), {"N": n}, dtype=np.int64, target=target)


def test_pop_of_the_wrong_dtype_is_a_protocol_mismatch():
    def kernel(x, f, **params):
        out = dae.output("out")
        with dae.loop(0, 8) as i:
            dae.push(i, "ite", dae.load(f, i))  # pushes float32

            @dae.callback(i, "ite", i)
            def put(k):
                dae.store(out, (k,), dae.pop("int64"))  # pops int64

        return out

    with pytest.raises(
        ExecutionError,
        match=r"protocol mismatch: case 0 \(put\) pop #0"
        r" expects scalar<int64> but the data queue holds scalar<float32>"
        r" pushed by stream 1 on TU 0 ite",
    ):
        _execute(kernel)


def test_pop_of_the_wrong_length_is_a_protocol_mismatch():
    def kernel(x, f, **params):
        out = dae.output("out")
        with dae.loop(0, 2):
            with dae.loop(0, 4, lanes=8) as c:
                v = dae.load(x, c)

            @dae.callback(c, "end", dae.buffer(v))
            def put(row):
                pass

            @dae.callback(c, "end")
            def wrong():
                dae.pop("int64", "buffer", 5)

        with dae.loop(0, 8) as k:

            @dae.callback(k, "ite", k)
            def fill(j):
                dae.store(out, (j,), j)

        return out

    # `wrong` pops a second buffer that nobody pushed: the next operand is a buffer of 4
    # (the next row) or nothing at all
    with pytest.raises(
        ExecutionError,
        match="expects buffer<int64, 5> but the data queue"
        " holds scalar<int64>|buffer<int64, 4>|pops operand",
    ):
        _execute(kernel)


def test_operands_never_popped_are_reported():
    def kernel(x, f, **params):
        out = dae.output("out")
        with dae.loop(0, 8) as i:
            dae.push(i, "ite", i)

            @dae.callback(i, "ite", i)
            def put(k):
                dae.store(out, (k,), k)

        return out

    with pytest.raises(ExecutionError, match="8 operands are pushed but never popped"):
        _execute(kernel)


def test_popping_more_than_was_pushed_deadlocks():
    def kernel(x, f, **params):
        out = dae.output("out")
        with dae.loop(0, 8) as i:

            @dae.callback(i, "ite", i)
            def put(k):
                dae.store(out, (k,), k + dae.pop("int64"))

        return out

    with pytest.raises(
        ExecutionError,
        match=r"deadlock: case 0 \(put\) pops operand #0 in its"
        r" run for token 4, but the access side pushed only 8",
    ):
        _execute(kernel)


def _late_operand(inner: int):
    """The bag callback fires on the inner loop's `beg` but pops an operand pushed at its
    `end`, after `inner` element tokens."""

    def kernel(x, f, **params):
        out = dae.output("out")
        with dae.loop(0, 2) as b:
            with dae.loop(0, inner) as j:

                @dae.callback(j, "ite")
                def tick():
                    pass

            dae.push(j, "end", b)

            @dae.callback(j, "beg")
            def bag():
                k = dae.pop("int64")
                dae.store(out, (k,), k + 100)

        with dae.loop(2, 8) as r:

            @dae.callback(r, "ite", r)
            def rest(k):
                dae.store(out, (k,), k)

        return out

    return kernel


def test_operand_pushed_after_a_full_control_queue_deadlocks():
    with pytest.raises(
        ExecutionError,
        match=r"deadlock: case \d+ \(bag\) waits for an operand"
        " that is pushed after 64 more control tokens",
    ):
        _execute(_late_operand(100))


def test_the_same_late_operand_fits_a_deep_enough_queue():
    got = _execute(_late_operand(10))
    np.testing.assert_array_equal(got, [100, 101, 2, 3, 4, 5, 6, 7])
    got = _execute(
        _late_operand(100),
        target={**TARGET, "budget": {"control_queue_entries": 256, "data_queue_entries": 64}},
    )
    np.testing.assert_array_equal(got[:2], [100, 101])


def _operands_first(count: int):
    def kernel(x, f, **params):
        out = dae.output("out")
        with dae.loop(0, count) as j:
            dae.push(j, "ite", j)
        with dae.loop(0, count) as k:

            @dae.callback(k, "ite")
            def put():
                v = dae.pop("int64")
                dae.store(out, (v,), v * 2)

        return out

    return kernel


def test_token_behind_a_full_data_queue_deadlocks():
    with pytest.raises(
        ExecutionError,
        match=r"deadlock: the token of case 0 \(put\) is pushed"
        " after more than 64 operands",
    ):
        _execute(_operands_first(100), n=100)
    np.testing.assert_array_equal(_execute(_operands_first(8)), np.arange(8) * 2)


def test_out_of_bounds_gather_names_the_stream():
    def kernel(x, f, **params):
        out = dae.output("out")
        with dae.loop(0, 8) as i:
            v = dae.load(x, i + 1)

            @dae.callback(i, "ite", i, v)
            def put(k, value):
                dae.store(out, (k,), value)

        return out

    with pytest.raises(
        ExecutionError,
        match=r"stream 2 \(load x\): index 8 out of bounds for"
        " dim 0 of size 8",
    ):
        _execute(kernel)


def test_out_of_bounds_store_names_the_case():
    def kernel(x, f, **params):
        out = dae.output("out")
        with dae.loop(0, 8) as i:

            @dae.callback(i, "ite", i)
            def put(k):
                dae.store(out, (k * 2,), k)

        return out

    with pytest.raises(ExecutionError, match=r"case 0 \(put\) op \d+ \(store\) on out: index 8"):
        _execute(kernel)


def test_integer_division_by_zero_is_reported():
    def kernel(x, f, **params):
        out = dae.output("out")
        with dae.loop(0, 8) as i:

            @dae.callback(i, "ite", i)
            def put(k):
                dae.store(out, (k,), 10 // k)

        return out

    with pytest.raises(ExecutionError, match="integer division by zero"):
        _execute(kernel)


def test_runaway_loop_bounds_are_refused():
    def kernel(x, f, **params):
        out = dae.output("out")
        with dae.loop(0, 10**9) as i:

            @dae.callback(i, "ite", i)
            def put(k):
                pass

        return out

    with pytest.raises(ExecutionError, match="TU 0 would run more than 4000000 values"):
        _execute(kernel)


def test_counters_follow_token_order_across_cases():
    """Two cases increment one counter; each sees the increments of earlier tokens."""

    def kernel(x, f, **params):
        out = dae.output("out")
        c = dae.counter(10)
        with dae.loop(0, 4) as i:

            @dae.callback(i, "ite")
            def first():
                dae.store(out, (c.get() - 10,), c.get())
                c.increment(2)

            @dae.callback(i, "ite")
            def second():
                c.increment(-1)
                dae.store(out, (c.get() - 7,), c.get())

        return out

    got = _execute(kernel)
    # tokens: first_0 sees 10 (then 12), second_0 makes it 11, first_1 sees 11, ...
    np.testing.assert_array_equal(got, [10, 11, 12, 13, 11, 12, 13, 14])


def test_low_level_push_and_pop_compute_a_mean():
    """The REFERENCE.md example: operands pushed by hand and popped in order."""

    def kernel(offsets, indices, table, **params):
        out = dae.output("out")
        D = out.shape[-1]
        with dae.loop(0, out.shape[0]) as bag:
            lo, hi = dae.load(offsets, bag), dae.load(offsets, bag + 1)
            with dae.loop(lo, hi) as item:
                idx = dae.load(indices, item)
                with dae.loop(0, D, lanes=8) as col:
                    x = dae.load(table, idx, col, contiguous=True)

                @dae.callback(col, "end", bag, dae.buffer(x))
                def add(b, row):
                    dae.accumulate(out, (b, dae.arange(D)), row)

            @dae.callback(item, "beg", bag)
            def init(b):
                dae.store(out, (b, dae.arange(D)), 0.0)

            dae.push(item, "end", bag)
            dae.push(item, "end", dae.maximum(hi - lo, 1))

            @dae.callback(item, "end")
            def finish():
                b = dae.pop("int64")
                n = dae.pop("int64")
                dae.accumulate(out, (b, dae.arange(D)), n * 1.0, fn="div")

        return out

    rng = np.random.default_rng(5)
    inputs, dims = random_bags(rng, bags=6, n=20, d=12)
    got = run(build(kernel, eb_signature(d=12, n=20)), inputs, (6, 12), dims)
    t = {k: torch.from_numpy(v) for k, v in inputs.items()}
    want = F.embedding_bag(
        t["indices"], t["table"], t["offsets"], mode="mean", include_last_offset=True
    ).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _one_at_a_time(effects, outputs):
    """The writes applied element by element in program order: what `_apply` must equal."""
    writes = sorted(
        (int(o), k, int(f), v)
        for k, e in enumerate(effects)
        for o, f, v in zip(e.order, e.flat, e.values, strict=True)
    )
    for _, k, f, v in writes:
        e, target = effects[k], outputs[effects[k].memref].reshape(-1)
        target[f] = v if e.fn == "store" else _ACCUMULATE[e.fn](target[f], v)


@pytest.mark.parametrize("seed", range(6))
def test_writes_apply_as_one_at_a_time_in_program_order(seed):
    """Stores and accumulates of several fns interleave on shared elements (rounding of
    float32 sums included): only the last store and the accumulates after it count."""
    rng = np.random.default_rng(seed)
    effects = []
    for k, fn in enumerate(rng.choice(["store", "add", "max", "mul"], size=5)):
        size = int(rng.integers(0, 40))
        effects.append(
            Effect(
                "out",
                str(fn),
                np.sort(rng.choice(200, size, replace=False)) * 5 + k,
                rng.integers(0, 6, size),
                rng.normal(size=size).astype(np.float32),
            )
        )
    start = rng.normal(size=(2, 3)).astype(np.float32)
    got, want = {"out": start.copy()}, {"out": start.copy()}
    _apply(effects, got)
    _one_at_a_time(effects, want)
    assert np.array_equal(got["out"], want["out"])


def test_accumulate_div_on_an_integer_output_is_refused():
    effects = [Effect("out", "div", np.array([0]), np.array([0]), np.array([2]))]
    with pytest.raises(ExecutionError, match="accumulate div on integer output 'out'"):
        _apply(effects, {"out": np.ones(3, dtype=np.int64)})
