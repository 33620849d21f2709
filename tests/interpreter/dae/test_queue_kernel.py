"""The compiled loops over queue entries (`queue_kernel`) against the numpy forms their
callers use until they are compiled: the same layout, match, error and peak, so which one
runs never shows in a run or a report."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from benchmarks.task import load_task
from dsl import dae
from interpreter.dae import BACKEND, access, critical_path, execute, simulator
from interpreter.dae.queue_kernel import (
    FILL,
    FLAT,
    GROUP,
    ITERATE,
    MATCH,
    PEAK,
    POP,
    STALLS,
    TIGHT,
    WORK,
    WRITE,
    access_work,
    fill_pushes,
    flat_positions,
    group_tokens,
    iterate,
    match_entries,
    peak_merge,
    pop_operands,
    push_stalls,
    tight_pushes,
    write_effects,
)
from interpreter.dae.resources import queue_peak
from interpreter.errors import ExecutionError
from interpreter.targets import load_target
from interpreter.verify.compare import poisoned

KERNELS = (ITERATE, FLAT, FILL, MATCH, GROUP, POP, WRITE, WORK, TIGHT, STALLS, PEAK)
DAE_SUITE = Path(__file__).resolve().parents[3] / "benchmarks" / "dae"


def _numpy_forms(monkeypatch) -> None:
    for kernel in KERNELS:
        monkeypatch.setattr(kernel, "pick", lambda size, k=kernel: k.plain)


def _compiled_forms(monkeypatch) -> None:
    for kernel in KERNELS:
        monkeypatch.setattr(kernel, "pick", lambda size, k=kernel: k.compiled())


@pytest.mark.parametrize("kernel", ["plain", "compiled"])
def test_the_iterations_are_the_repeats(kernel):
    """Fibers of 0-4 iterations from bounds of either sign, steps 1-3: each iteration's
    fiber and value as `np.repeat` lays them out (`access._traverse`' numpy form)."""
    run = iterate if kernel == "plain" else ITERATE.compiled()
    rng = np.random.default_rng(7)
    for _ in range(100):
        chunks = rng.integers(0, 5, rng.integers(0, 8))
        lo, step, n = rng.integers(-9, 9, len(chunks)), int(rng.integers(1, 4)), int(chunks.sum())
        owner, iv = run(lo, chunks, step, n)
        want = np.repeat(np.arange(len(chunks)), chunks)
        k = np.arange(n) - (np.cumsum(chunks) - chunks)[want]
        np.testing.assert_array_equal(owner, want)
        np.testing.assert_array_equal(iv, lo[want] + k * step)


@pytest.mark.parametrize("kernel", ["plain", "compiled"])
def test_the_flat_positions_are_the_arrays(kernel):
    """Index vectors of rank 1-3, in bounds or one out (either end, any dim): the kernel's
    positions are `access.flat_index`'s numpy form's, and it refuses where that raises."""
    positions = flat_positions if kernel == "plain" else FLAT.compiled()
    rng = np.random.default_rng(10)
    outcomes = set()
    for _ in range(200):
        shape = tuple(int(x) for x in rng.integers(1, 5, rng.integers(1, 4)))
        n = int(rng.integers(0, 9))
        indices = [rng.integers(0, size, n) for size in shape]
        if n and rng.random() < 0.4:
            d = int(rng.integers(0, len(shape)))
            indices[d][rng.integers(0, n)] = rng.choice([-1, shape[d]])
        flat, inside = positions(*(*indices, indices[0], indices[0])[:3], np.array(shape))
        try:
            want = access.flat_index(indices, shape, None, "test")
        except ExecutionError:
            assert not inside
            outcomes.add("out")
        else:
            assert inside
            np.testing.assert_array_equal(flat, want)
            outcomes.add("in")
    assert outcomes == {"in", "out"}


def test_flat_index_names_the_index_out_of_bounds_either_way(monkeypatch):
    """An index out of bounds: the same message whether the kernel ran first or not."""
    indices = [np.array([0, 1, 2]), np.array([3, 4, 1])]
    messages = []
    for form in (_numpy_forms, _compiled_forms):
        form(monkeypatch)
        with pytest.raises(ExecutionError) as raised:
            access.flat_index(indices, (3, 4), None, "load x")
        messages.append(str(raised.value))
    assert (
        messages[0]
        == messages[1]
        == ("load x: index 4 out of bounds for dim 1 of size 4 (element [1])")
    )


@pytest.mark.parametrize("kernel", ["plain", "compiled"])
def test_the_fill_is_the_scatter(kernel):
    fill = fill_pushes if kernel == "plain" else FILL.compiled()
    rng = np.random.default_rng(1)
    for _ in range(50):
        group = rng.integers(0, 9, rng.integers(1, 4))
        gaps = rng.integers(len(group), len(group) + 3, rng.integers(0, 40))
        base = (np.cumsum(gaps) - gaps).astype(np.int64)
        size = int(base[-1]) + len(group) if len(base) else 0
        reg, inst = np.full(size, -1), np.full(size, -1)
        fill(reg, inst, base, group.astype(np.int64))
        want_reg, want_inst = np.full(size, -1), np.full(size, -1)
        at = base[:, None] + np.arange(len(group))
        want_reg[at], want_inst[at] = group, np.arange(len(base))[:, None]
        np.testing.assert_array_equal(reg, want_reg)
        np.testing.assert_array_equal(inst, want_inst)


def _entries(rng) -> tuple:
    """A random program's push order: cases popping 0-3 operands of 3 kinds, tokens of
    them, their operands interleaved with the tokens at random (each queue in order), then
    as often spoilt: an operand's kind changed, one dropped or one more pushed."""
    npops = rng.integers(0, 4, rng.integers(1, 4))
    pop_start = np.cumsum(npops) - npops
    flat_pops = rng.integers(0, 3, int(npops.sum()))
    tok_case = rng.integers(0, len(npops), rng.integers(0, 30))
    operands = [int(k) for c in tok_case for k in flat_pops[pop_start[c] : pop_start[c] + npops[c]]]
    spoil = rng.integers(0, 4)
    if spoil == 1 and operands:
        operands[rng.integers(0, len(operands))] = 2 - operands[0]
    elif spoil == 2 and operands:
        operands.pop(int(rng.integers(0, len(operands))))
    elif spoil == 3:
        operands.insert(int(rng.integers(0, len(operands) + 1)), int(rng.integers(0, 3)))
    # registrations: kind k's operand is registration k, case c's token 3 + c
    reg_code = np.array([0, 1, 2] + [-1 - c for c in range(len(npops))], dtype=np.int64)
    queues = [list(3 + tok_case), operands]
    reg = []
    while queues[0] or queues[1]:
        q = int(rng.integers(0, 2)) if queues[0] and queues[1] else (0 if queues[0] else 1)
        reg.append(queues[q].pop(0))
    return np.array(reg, dtype=np.int64), reg_code, npops, pop_start, flat_pops


@pytest.mark.parametrize("kernel", ["plain", "compiled"])
def test_the_match_is_the_arrays(kernel):
    """Random push orders that match, mismatch, run short or long, under small queues that
    deadlock or not: the same entries, owners, first mismatch and deadlocking tokens as
    `execute._match_entries`' arrays (and every outcome shows up)."""
    match = match_entries if kernel == "plain" else MATCH.compiled()
    rng = np.random.default_rng(2)
    seen = set()
    for _ in range(600):
        reg, reg_code, npops, pop_start, flat_pops = _entries(rng)
        qc, qd = (int(q) for q in rng.integers(0, 4, 2))
        got = match(reg, reg_code, npops, pop_start, flat_pops, qc, qd)
        want = execute._match_entries(reg, reg_code, npops, pop_start, flat_pops, qc, qd)
        for a, b in zip(got[:5], want[:5], strict=True):
            np.testing.assert_array_equal(a, b)
        assert [int(x) for x in got[5:]] == [int(x) for x in want[5:]]
        bad, control, data = want[5:]
        seen.add(
            "mismatch"
            if bad < len(want[4])
            else "count"
            if len(want[4]) != len(want[1])
            else "control"
            if control >= 0
            else "data"
            if data >= 0
            else "ok"
        )
    assert seen == {"mismatch", "count", "control", "data", "ok"}


def test_a_deadlock_by_hand():
    """Three tokens of a case popping one operand each, pushed before their operands: with
    one control slot token 2 cannot enter while the core waits for token 0's operand, which
    comes after it (the control count, token 0), with two it can; and two operands ahead of
    a token that pops both do not fit a data queue of one (the data count), of two they do."""
    reg_code = np.array([0, -1], dtype=np.int64)  # registration 0: an operand, 1: a token
    pop_start, flat_pops = np.array([0]), np.array([0])
    for match in (match_entries, MATCH.compiled(), execute._match_entries):
        reg = np.array([1, 1, 1, 0, 0, 0], dtype=np.int64)
        one = np.array([1])
        assert match(reg, reg_code, one, pop_start, flat_pops, 1, 4)[5:] == (3, 0, -1)
        assert match(reg, reg_code, one, pop_start, flat_pops, 2, 4)[5:] == (3, -1, -1)
        reg, two, flat_two = np.array([0, 0, 1], dtype=np.int64), np.array([2]), np.array([0, 0])
        assert match(reg, reg_code, two, pop_start, flat_two, 4, 1)[5:] == (2, -1, 0)
        assert match(reg, reg_code, two, pop_start, flat_two, 4, 2)[5:] == (2, -1, -1)


@pytest.mark.parametrize("kernel", ["plain", "compiled"])
def test_the_groups_are_each_cases_tokens(kernel):
    """Each case's slice of the counting sort is its tokens in order; unused cases (the
    last ones included) get empty slices."""
    group = group_tokens if kernel == "plain" else GROUP.compiled()
    rng = np.random.default_rng(5)
    for _ in range(100):
        ncases = int(rng.integers(1, 6))
        tok_case = rng.integers(0, ncases, int(rng.integers(0, 60)))
        order, start = group(tok_case, ncases)
        assert start[0] == 0 and start[-1] == len(tok_case)
        for c in range(ncases):
            np.testing.assert_array_equal(
                order[start[c] : start[c + 1]], np.flatnonzero(tok_case == c)
            )


def _effects(rng, dtype) -> list[execute.Effect]:
    """Random stores and accumulates (one fn an op) on 6 elements, their program orders
    interleaved; float values include NaNs and zeros of both signs."""
    pool = np.array([np.nan, -0.0, 0.0, 1.5, -2.0, 3.0]) if dtype == np.float32 else None
    effects = []
    for k in range(int(rng.integers(1, 5))):
        n = int(rng.integers(0, 12))
        fn = str(rng.choice(["store", "add", "mul", "max", "min"]))
        values = rng.choice(pool, n) if pool is not None else rng.integers(-5, 6, n)
        order = np.sort(rng.choice(40, n)) * 5 + k  # tokens * max_ops + op: distinct ops
        effects.append(
            execute.Effect("out", fn, order, rng.integers(0, 6, n), values.astype(dtype))
        )
    return effects


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_the_writes_are_one_at_a_time_in_program_order(dtype, monkeypatch):
    """`_apply` compiled (`WRITE`) and in arrays, and a loop that writes one element at a time
    in program order (the semantics), leave the same bits: stores, accumulates after them,
    NaNs and signed zeros under max and min."""
    rng = np.random.default_rng(6)
    if dtype == np.float32:
        start = np.array([np.nan, 1.0, -0.0, 2.0, 0.0, -1.0], dtype=dtype)
    else:
        start = np.arange(6, dtype=dtype)
    fns = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}
    for _ in range(300):
        effects = _effects(rng, dtype)
        want = start.copy()
        writes = [
            (o, f, v, e.fn)
            for e in effects
            for o, f, v in zip(e.order, e.flat, e.values, strict=True)
        ]
        for _, at, value, fn in sorted(writes, key=lambda w: w[0]):  # (stable: lanes in order)
            want[at] = value if fn == "store" else fns[fn](want[at], value)
        for form in (_numpy_forms, _compiled_forms):
            form(monkeypatch)
            out = {"out": start.copy()}
            execute._apply(effects, out)
            bits = np.int32 if dtype == np.float32 else dtype  # (NaN == NaN, -0.0 != 0.0)
            np.testing.assert_array_equal(out["out"].view(bits), want.view(bits))


@pytest.mark.parametrize("kernel", ["plain", "compiled"])
def test_the_kernels_write_as_described(kernel):
    """`write_effects` by hand: element 0 stored 2 then added 3 and multiplied by 4 (20),
    element 1 maxed with 7 then minned with 5 (5), in the order `sort` gives."""
    write = write_effects if kernel == "plain" else WRITE.compiled()
    target = np.zeros(2, dtype=np.int64)
    flat, values = np.array([0, 1, 0, 1, 0]), np.array([3, 7, 2, 5, 4])
    kind = np.array([1, 3, 0, 4, 2])  # add, max, store, min, mul
    write(target, flat, values, kind, np.array([2, 0, 4, 1, 3]))
    assert target.tolist() == [20, 5]


@pytest.mark.parametrize("kernel", ["plain", "compiled"])
def test_the_pops_are_the_gathers(kernel):
    """Each pop's operands from one registration or from several (then -1)."""
    pop = pop_operands if kernel == "plain" else POP.compiled()
    rng = np.random.default_rng(4)
    for _ in range(100):
        npops = int(rng.integers(1, 4))
        n = int(rng.integers(npops, 50))  # pushes, operands among them at `data_pos`
        reg = rng.integers(0, rng.integers(1, 3), n)
        inst = rng.integers(0, 100, n)
        data_pos = np.sort(rng.choice(n, int(rng.integers(npops, n + 1)), replace=False))
        first = np.sort(rng.integers(0, len(data_pos) - npops + 1, int(rng.integers(1, 20))))
        out = np.empty((npops, len(first)), dtype=np.int64)
        shared = np.empty(npops, dtype=np.int64)
        pop(data_pos, first, reg, inst, out, shared)
        for k in range(npops):
            regs = reg[data_pos[first + k]]
            np.testing.assert_array_equal(out[k], inst[data_pos[first + k]])
            assert shared[k] == (regs[0] if (regs == regs[0]).all() else -1)


@pytest.mark.parametrize("kernel", ["plain", "compiled"])
def test_the_access_work_is_the_bincounts(kernel):
    """`queue_kernel.access_work` and `simulator._access_work` give the same bits for every
    array: pushes with 0 to 20 iterations (the kernel divides a few step counts once),
    requests of every level on either side, rates that do not divide evenly, pushes whose
    memory is all, part or none latency-bound."""
    work_of = access_work if kernel == "plain" else WORK.compiled()
    rng = np.random.default_rng(8)
    lat = np.array([0.0, 4.0, 14.0, 40.0, 240.0])
    for _ in range(100):
        n = int(rng.integers(0, 30))
        starts = np.sort(rng.integers(0, n + 1, rng.integers(0, 60)))
        if rng.random() < 0.3:
            starts = np.concatenate([starts, np.full(20, n)])  # 20 steps after the last push
        r = int(rng.integers(0, 80))
        entry = np.sort(rng.integers(0, n + 1, r))
        level = rng.integers(1, 5, r)
        load = np.where(rng.random(r) < 0.8, -1, 0)
        args = (starts, entry, level, load, lat, float(rng.choice([3.0, 7.0, 32.0])))
        rates = np.array([rng.choice([1.0, 3.0]), rng.choice([1.0, 0.7]), rng.choice([8.0, 3.3])])
        args += (float(rng.choice([1.0, 0.3, 5.0])), 64, rates, n)
        got, want = work_of(*args), simulator._access_work(*args)
        assert len(got) == len(want) == 7
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a.view(np.int64), b.view(np.int64))


@pytest.mark.parametrize("kernel", ["plain", "compiled"])
def test_the_tight_pushes_are_the_arrays(kernel):
    """`queue_kernel.tight_pushes` and `critical_path._tight_pushes`: pushes that waited or
    not (ties within the tolerance), tokens that own no entry."""
    tight = tight_pushes if kernel == "plain" else TIGHT.compiled()
    rng = np.random.default_rng(9)
    for _ in range(100):
        n, tokens = int(rng.integers(0, 40)), int(rng.integers(1, 6))
        work = rng.choice([0.0, 0.5, 1.0, 3.0], n + 1)
        push = np.cumsum(work[:n] + rng.choice([0.0, 0.0, 1e-12, 2.0], n)) + 1.0
        owner = np.sort(rng.integers(0, tokens, n))
        got = tight(push, work, 1.0, owner, tokens, 1e-9)
        want = critical_path._tight_pushes(push, work, 1.0, owner, tokens, 1e-9)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kernel", ["plain", "compiled"])
def test_the_push_stalls_are_the_arrays(kernel):
    """Each push's wait beyond its own work, as `simulator._report` computes it in arrays:
    pushes that waited, that did not, and ties (a zero wait, which must stay +0.0)."""
    stalls = push_stalls if kernel == "plain" else STALLS.compiled()
    rng = np.random.default_rng(11)
    for _ in range(100):
        n = int(rng.integers(0, 30))
        work = rng.choice([0.0, 0.25, 1.0, 3.0], n + 1)
        push = np.cumsum(work[:n] + rng.choice([0.0, 0.0, 0.1, 2.0], n))
        earliest = np.concatenate([[0.0], push[:-1]]) + work[:n]
        want = np.maximum(0.0, push - earliest)[1:]
        np.testing.assert_array_equal(stalls(push, work).view(np.int64), want.view(np.int64))


@pytest.mark.parametrize("kernel", ["plain", "compiled"])
def test_the_merged_peak_is_the_binary_search_peak(kernel, monkeypatch):
    """On sorted push and pop times, with ties (whole cycles) and without; the queue's
    entries given directly or as positions among other pushes and pops."""
    merge = peak_merge if kernel == "plain" else PEAK.compiled()
    _numpy_forms(monkeypatch)
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 300))
        step = rng.integers(0, 4, n) if rng.random() < 0.5 else rng.random(n) * 3
        push = np.cumsum(step).astype(np.float64)
        pop = np.maximum.accumulate(push + rng.integers(0, 30) * rng.random(n))
        if rng.random() < 0.5:
            pop = np.floor(pop)
        pop = np.maximum(pop, push)  # pops in order, none before its push
        peak = queue_peak(push, pop)
        assert merge(push, np.arange(n), pop, np.arange(n)) == peak
        at = np.sort(rng.choice(3 * n, n, replace=False))  # among other entries
        owner = np.sort(rng.choice(2 * n, n, replace=False))
        pushes, pops = np.full(3 * n, np.nan), np.full(2 * n, np.nan)
        pushes[at], pops[owner] = push, pop
        assert merge(pushes, at, pops, owner) == peak
        assert queue_peak(pushes, pops, at, owner) == peak


def _run(task, program, dims, inputs) -> tuple[dict, dict]:
    outputs = poisoned(task, dims)
    BACKEND.execute(program, {k: v.copy() for k, v in inputs.items()}, outputs, dims)
    report = BACKEND.simulate(program, inputs, dims, load_target(task.target))
    return outputs, dataclasses.asdict(report)


def test_a_suite_baseline_runs_the_same_either_way(monkeypatch):
    task = load_task(DAE_SUITE / "eb_weighted.toml")
    namespace: dict = {"__name__": "__program__"}
    exec(compile(task.baseline_source(), "baseline.py", "exec"), namespace)
    program = BACKEND.load(dae.trace(namespace["kernel"], task.signature()))
    dims = task.full_dims(task.checks[0])
    inputs = task.make_inputs(dims, 4)
    _numpy_forms(monkeypatch)
    outputs, report = _run(task, program, dims, inputs)
    _compiled_forms(monkeypatch)
    outputs_compiled, report_compiled = _run(task, program, dims, inputs)
    for name, value in outputs.items():
        np.testing.assert_array_equal(outputs_compiled[name], value)
    assert report_compiled == report
