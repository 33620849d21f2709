"""The DAE targets' hardware budget: a program asking for more is refused with the resource,
the amount and the budget; what a run used is reported beside its cycles."""

from __future__ import annotations

import numpy as np
import pytest

from dsl import dae
from interpreter.dae import BACKEND
from interpreter.dae.resources import queue_peak
from interpreter.errors import BudgetError
from interpreter.targets import load_target
from tests.dsl.dae.helpers import copy_kernel, copy_signature


def _row_signature(d: int = 16) -> dict:
    return {
        "dialect": "dae",
        "inputs": [{"name": "x", "dtype": "float32", "shape": ["N", d]}],
        "outputs": [{"name": "out", "dtype": "float32", "shape": ["N", d]}],
        "dims": {"N": 2},
        "params": {},
    }


def _row_copy(lanes: int = 8, loops: int = 1, counters: int = 0, alus: int = 0):
    """Copy rows through buffers, padded with extra vector loops, counters and ALU streams."""

    def kernel(x, **params):
        out = dae.output("out")
        d = out.shape[1]
        for _ in range(counters):
            dae.counter(0)
        with dae.loop(0, out.shape[0]) as i:
            k = i
            for _ in range(alus):
                k = k + 0
            for _ in range(loops - 1):
                with dae.loop(0, d, lanes=lanes) as spare:
                    dae.load(x, i, spare)
            with dae.loop(0, d, lanes=lanes) as c:
                v = dae.load(x, i, c, contiguous=True)

            @dae.callback(c, "end", k, dae.buffer(v))
            def put(r, row):
                dae.store(out, (r, dae.arange(d)), row)

        return out

    return kernel


def _run(kernel, signature, n: int = 2, d: int = 16):
    program = BACKEND.load(dae.trace(kernel, signature))
    x = np.arange(n * d, dtype=np.float32).reshape(n, d)
    target = load_target("dae_default")
    outputs = {"out": np.full((n, d), np.nan, dtype=np.float32)}
    BACKEND.execute(program, {"x": x}, outputs, {"N": n}, target=target)
    np.testing.assert_array_equal(outputs["out"], x)
    return BACKEND.simulate(program, {"x": x}, {"N": n}, target)


@pytest.mark.parametrize(
    "kernel, d, message",
    [
        (_row_copy(lanes=16), 16, "needs 16 lanes, but target 'dae_default' has a budget of 8"),
        (_row_copy(loops=5), 16, "needs 41 traversal_units, but target 'dae_default' has a"),
        (_row_copy(alus=32), 16, "needs 33 streams, but target 'dae_default' has a budget of 32"),
        (_row_copy(counters=17), 16, "needs 17 execute_counters, but target 'dae_default'"),
        (_row_copy(), 1024, "needs 4096 buffer_bytes, but target 'dae_default' has a budget"),
    ],
)
def test_over_budget_is_refused_before_anything_runs(kernel, d, message):
    program = BACKEND.load(dae.trace(kernel, _row_signature(d)))
    x = np.zeros((2, d), dtype=np.float32)
    target = load_target("dae_default")
    with pytest.raises(BudgetError, match=message):
        BACKEND.execute(program, {"x": x}, {"out": np.zeros_like(x)}, {"N": 2}, target=target)
    with pytest.raises(BudgetError, match=message):
        BACKEND.simulate(program, {"x": x}, {"N": 2}, target)


def test_what_a_run_used_is_reported():
    """Copy of two 16-float rows: TU i and an 8-lane TU c (9 units), the load, 0 counters,
    one 64-byte buffer. Two tokens and two operands: the core pops each token as soon as it
    is pushed, so at most one entry waits in each queue. Lines: two rows of x."""
    used = _run(_row_copy(), _row_signature()).resources
    assert used == {
        "traversal_units": 9,
        "lanes": 8,
        "streams": 1,
        "execute_counters": 0,
        "buffer_bytes": 64,
        "control_queue_entries": 1,
        "data_queue_entries": 2,
        "outstanding_misses": pytest.approx(used["outstanding_misses"]),
        "l1_bytes": 128,
        "l2_bytes": 128,
        "llc_bytes": 128,
    }
    assert 0 < used["outstanding_misses"] <= 32


def test_budgeted_queue_depth_is_the_simulated_one():
    """copy_kernel pushes 3 entries per element (2 operands and a token) and the core is the
    slow side, so the data queue fills up to its budget: 64 by default, 4 if the target
    only has 4."""
    program = BACKEND.load(dae.trace(copy_kernel, copy_signature(200)))
    x = {"x": np.arange(200, dtype=np.int64)}
    target = load_target("dae_default")
    assert BACKEND.simulate(program, x, {"N": 200}, target).resources["data_queue_entries"] == 64
    small = {**target, "budget": {**target["budget"], "data_queue_entries": 4}}
    report = BACKEND.simulate(program, x, {"N": 200}, small)
    assert report.resources["data_queue_entries"] == 4


def test_queue_peak_by_hand():
    """Pushes at 0, 1, 2, 3; pops at 2, 2, 5, 6. At t=2 the first two leave as the third
    arrives: peaks 1, 2, 1, 2."""
    assert queue_peak(np.array([0.0, 1, 2, 3]), np.array([2.0, 2, 5, 6])) == 2
    assert queue_peak(np.zeros(0), np.zeros(0)) == 0


def test_the_reference_states_the_targets_budget():
    """The budget table models read in REFERENCE.md is the one the targets enforce (both
    DAE targets have the same)."""
    import re
    from pathlib import Path

    text = (Path(dae.__file__).parent / "REFERENCE.md").read_text()
    stated = {}
    for names, amounts in re.findall(
        r"^\| (`[a-z0-9_]+`(?:, `[a-z0-9_]+`)*) \| ([^|]+) \|", text, re.M
    ):
        units = {"KiB": 1024, "MiB": 1024**2}
        values = [int(n) * units.get(u, 1) for n, u in re.findall(r"(\d+)(?: (KiB|MiB))?", amounts)]
        for name, value in zip(re.findall(r"`(\w+)`", names), values, strict=True):
            stated[name] = value
    for target in ("dae_default", "dae_wide"):
        assert load_target(target)["budget"] == stated


def test_the_access_side_holds_a_bounded_number_of_values(monkeypatch):
    """Within budget, streams could still hold gigabytes on the trusted side: a run-level
    cap stops it with the stream that crossed it (lowered here so the test stays small)."""
    from interpreter.dae import access
    from interpreter.errors import ExecutionError

    monkeypatch.setattr(access, "MAX_VALUES", 100)
    program = BACKEND.load(dae.trace(copy_kernel, copy_signature(40)))
    x = {"x": np.arange(40, dtype=np.int64)}
    out = {"out": np.zeros(40, dtype=np.int64)}
    with pytest.raises(ExecutionError, match="stream 1 \\(load\\): the access side would hold"):
        BACKEND.execute(program, x, out, {"N": 40}, target=load_target("dae_default"))
