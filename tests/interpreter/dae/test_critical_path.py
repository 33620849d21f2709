"""The DAE critical path and its advice: hand-timed couplings walked back by hand, a
property (the path covers the run exactly), and real programs whose bottleneck is known."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from dsl import dae
from dsl.dae.compiler import compile_spec
from dsl.dae.ir import StreamNode
from interpreter.dae import BACKEND, advice
from interpreter.dae.cache_model import DRAM, Requests
from interpreter.dae.critical_path import CORE_PARTS, FILL, WORK, Inputs, walk
from interpreter.dae.pipeline import Coupling, solve
from tests.dsl.dae.helpers import eb_signature
from tests.interpreter.dae.test_timing import TARGET


def _inputs(a, c, owner, is_token, depths, fill, tail=0.0) -> Inputs:
    """Access work all traversal steps, core cycles all compute; times from the solver."""
    a, c = np.asarray(a, float), np.asarray(c, float)
    owner, is_token = np.asarray(owner), np.asarray(is_token, bool)
    times = solve(Coupling(a, owner, is_token, c, fill, *depths))
    steps = np.append(a, tail)
    zero = np.zeros_like(steps)
    access = dict(zip(WORK, (steps, zero, zero, zero), strict=True))
    core = dict(zip(CORE_PARTS, (np.zeros_like(c), c, np.zeros_like(c)), strict=True))
    return Inputs(
        access,
        zero,
        core,
        times.push,
        times.start,
        times.finish,
        owner,
        is_token,
        depths,
        fill,
        0.0,
    )


def test_a_slow_core_is_the_path_back_to_the_first_push():
    """P0 = 5 + 1 = 6; the core runs tokens back to back 6..46: 40 compute, then the first
    push's work and the fill latency before it."""
    x = _inputs([1, 1, 1, 1], [10] * 4, [0, 1, 2, 3], [True] * 4, (64, 64), 5.0)
    path = walk(x)
    assert path.cycles == 46
    assert path.share == {"callback compute": 40, "traversal steps": 1, FILL: 5}
    assert path.stalls == {}
    assert path.on_core.all() and path.on_access.tolist() == [True, False, False, False, False]


def test_a_full_queue_sends_the_path_from_the_access_side_to_the_core():
    """Control depth 1: P = 1, 2, 11, 21 (push 3 waits for token 2's pop at S2 = 21); a tail
    of 30 ends the access side at 51 after the core's 41. Back from 51: tail 30, push 3 waited
    for room (a stall) -> token 2 started when token 1 finished -> tokens 1, 0 (20) -> token 0
    waited for push 0 (1)."""
    x = _inputs([1, 1, 1, 1], [10] * 4, [0, 1, 2, 3], [True] * 4, (1, 1), 0.0, tail=30.0)
    assert x.push.tolist() == [1, 2, 11, 21]
    path = walk(x)
    assert path.cycles == 51
    assert path.share == {"traversal steps": 31, "callback compute": 20}
    assert path.stalls == {"control queue": 1}
    assert path.on_core.tolist() == [True, True, False, False]


def test_a_tie_between_resources_is_charged_to_the_first_of_work():
    """Each push's work is charged to the resource that set it; when several set it alike,
    to the first in WORK's order (traversal steps, memory, DRAM bandwidth, queue pushes).
    Pushes at 2, 4, 8, 10, each set by its own work; the last token ends at 11."""
    x = _inputs([2, 2, 4, 2], [1] * 4, [0, 1, 2, 3], [True] * 4, (64, 64), 0.0)
    x.access["traversal steps"] = np.array([2.0, 2.0, 2.0, 2.0, 0.0])
    x.access["queue pushes"] = x.access["traversal steps"].copy()  # ties everywhere
    x.access["memory"] = np.array([0.0, 2.0, 4.0, 0.0, 0.0])  # ties at push 1, sets push 2
    x.miss_share = np.array([0.0, 0.0, 0.25, 0.0, 0.0])
    path = walk(x)
    assert path.cycles == 11
    assert path.share == {
        "callback compute": 1,
        "traversal steps": 6,
        "memory requests": 3,
        "cache-miss latency": 1,
    }


@pytest.mark.parametrize("seed", range(25))
def test_the_path_covers_the_run_exactly(seed):
    """Whatever the work and depths, the path's parts add up to the run's cycles: each step
    back ends exactly where the event it waited for ended."""
    rng = np.random.default_rng(seed)
    owner, is_token = [], []
    for k in range(int(rng.integers(1, 40))):
        m = int(rng.integers(0, 3))
        owner += [k] * (m + 1)
        is_token += [False] * m + [True]
    a = rng.integers(0, 12, len(owner))
    c = rng.integers(1, 25, max(owner) + 1)
    depths = (int(rng.integers(1, 4)), int(rng.integers(2, 5)))  # a token pops <= 2 operands
    x = _inputs(a, c, owner, is_token, depths, float(rng.integers(0, 9)), rng.integers(0, 20))
    path = walk(x)
    assert sum(path.share.values()) == pytest.approx(path.cycles)


def _report(level: int, rows: int = 2000, hot: bool = False):
    rng = np.random.default_rng(1)
    lengths = rng.integers(5, 20, 32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    nnz = int(offsets[-1])
    high = 8 if hot else rows
    inputs = {
        "offsets": offsets,
        "indices": rng.integers(0, high, nnz).astype(np.int64),
        "table": rng.standard_normal((rows, 64)).astype(np.float32),
    }
    dims = {"B": 32, "NOFF": 33, "NNZ": nnz, "N": rows, "D": 64}
    namespace: dict = {}
    exec(compile_spec({"op": "embedding_bag"}, tuple(inputs), level), namespace)
    program = BACKEND.load(dae.trace(namespace["kernel"], eb_signature(d=64, n=rows)))
    return BACKEND.simulate(program, inputs, dims, TARGET)


def test_one_callback_per_element_is_told_to_widen_that_callbacks_loop():
    text = _report(0).bottleneck
    assert text.startswith("Critical path: ")
    assert "wait for callback dispatch and pops, most in callback `def element(`" in text
    assert "`lanes=8` on its `dae.loop`" in text


def test_a_lane_by_lane_gather_is_told_to_load_contiguously():
    text = _report(1).bottleneck
    assert "wait for memory requests, most in `dae.load(table, ...)`" in text
    assert "`contiguous=True` on `dae.load(table, ...)`" in text


def test_compulsory_misses_get_no_hint_that_cannot_help():
    """O3 gathers of distinct cold rows: the misses are first touches, so no non-temporal
    hint (it would save no miss) and no lanes (already 8 wide)."""
    report = _report(3, rows=20000)
    text = report.bottleneck
    assert "cache-miss latency" in text or "DRAM bandwidth" in text, text
    assert "compulsory" in text and "nontemporal=True" not in text


@pytest.mark.parametrize("second_table_level", [DRAM, 1])
def test_nontemporal_is_advised_only_when_a_reused_line_misses_again(second_table_level):
    """indices (lines 1, 2, 3) are read once; table reads line 10 twice. Only when the second
    read of 10 misses (something evicted it) can a non-temporal `indices` save a miss."""
    program = SimpleNamespace(
        streams=[
            StreamNode.make(0, "load", 0, memref="indices"),
            StreamNode.make(1, "load", 1, dtype="float32", memref="table"),
        ]
    )
    level = np.array([DRAM, DRAM, DRAM, DRAM, DRAM, second_table_level])
    req = Requests(
        entry=np.arange(6),
        stream=np.array([0, 0, 0, 1, 1, 1]),
        line=np.array([1, 2, 3, 10, 11, 10]),
        nontemporal=np.zeros(6, bool),
        level=level,
        load=np.full(6, -1),
        token=np.full(6, -1),
    )
    text = advice._misses(program, req)
    if second_table_level == DRAM:
        assert text.startswith(
            "`nontemporal=True` on the read-once loads `dae.load(indices, ...)`:"
        )
    else:
        assert text.startswith("the misses are compulsory")


def test_free_work_and_depth_one_queues_end_the_walk():
    """Zero work everywhere: every time is 0 and ties between the halves must not loop."""
    x = _inputs([0] * 6, [0] * 3, [0, 0, 1, 1, 2, 2], [False, True] * 3, (1, 1), 0.0)
    path = walk(x)
    assert path.cycles == 0 and path.share == {}
