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
from interpreter.dae import BACKEND, execute
from interpreter.dae.queue_kernel import (
    FILL,
    MATCH,
    PEAK,
    POP,
    fill_pushes,
    match_pops,
    peak_merge,
    pop_operands,
)
from interpreter.dae.resources import queue_peak
from interpreter.targets import load_target
from interpreter.verify.compare import poisoned

KERNELS = (FILL, MATCH, POP, PEAK)
DAE_SUITE = Path(__file__).resolve().parents[3] / "benchmarks" / "dae"


def _numpy_forms(monkeypatch) -> None:
    for kernel in KERNELS:
        monkeypatch.setattr(kernel, "pick", lambda size, k=kernel: k.plain)


def _compiled_forms(monkeypatch) -> None:
    for kernel in KERNELS:
        monkeypatch.setattr(kernel, "pick", lambda size, k=kernel: k.compiled())


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


@pytest.mark.parametrize("kernel", ["plain", "compiled"])
def test_the_match_is_the_arrays(kernel, monkeypatch):
    """Random cases and tokens; the pushed kinds match, differ somewhere, or run short or
    long: the same owners and the same first mismatch as `execute._match_pops`' arrays."""
    match = match_pops if kernel == "plain" else MATCH.compiled()
    _numpy_forms(monkeypatch)
    rng = np.random.default_rng(2)
    for _ in range(200):
        npops = rng.integers(0, 4, rng.integers(1, 4))
        pop_start = np.cumsum(npops) - npops
        flat_pops = rng.integers(0, 3, int(npops.sum()))
        tok_case = rng.integers(0, len(npops), rng.integers(0, 30))
        per_token = npops[tok_case]
        data_first = np.cumsum(per_token) - per_token
        total = int(per_token.sum())
        expected = np.concatenate(
            [flat_pops[pop_start[c] : pop_start[c] + npops[c]] for c in tok_case] or [[]]
        ).astype(np.int64)
        length = max(0, total + int(rng.integers(-2, 3)))  # short, exact or long
        pushed = np.concatenate([expected, rng.integers(0, 3, 2)])[:length]
        if len(pushed) and rng.random() < 0.5:
            pushed[rng.integers(0, len(pushed))] = 3
        want_owner, want_bad = execute._match_pops(
            tok_case, per_token, data_first, npops, pop_start, flat_pops, pushed
        )
        owner = np.empty(total, dtype=np.int64)
        assert match(tok_case, npops, pop_start, flat_pops, pushed, owner) == want_bad
        np.testing.assert_array_equal(owner, want_owner)


@pytest.mark.parametrize("kernel", ["plain", "compiled"])
def test_the_pops_are_the_gathers(kernel):
    """Operands from one registration or from several (then -1)."""
    pop = pop_operands if kernel == "plain" else POP.compiled()
    rng = np.random.default_rng(4)
    for _ in range(100):
        n = int(rng.integers(1, 50))
        reg = rng.integers(0, rng.integers(1, 3), n)
        inst = rng.integers(0, 100, n)
        data_pos = np.sort(rng.choice(n, int(rng.integers(1, n + 1)), replace=False))
        operands = rng.integers(0, len(data_pos), int(rng.integers(1, 20)))
        out = np.empty(len(operands), dtype=np.int64)
        shared = pop(data_pos, operands, reg, inst, out)
        regs = reg[data_pos[operands]]
        np.testing.assert_array_equal(out, inst[data_pos[operands]])
        assert shared == (regs[0] if (regs == regs[0]).all() else -1)


@pytest.mark.parametrize("kernel", ["plain", "compiled"])
def test_the_merged_peak_is_the_binary_search_peak(kernel, monkeypatch):
    """On sorted push and pop times, with ties (whole cycles) and without."""
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
        assert merge(push, pop) == queue_peak(push, pop)


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
