"""The cycle simulator: hand-computed cycle counts and the memory model (the coupling of
the two halves: test_pipeline.py)."""

from __future__ import annotations

import numpy as np
import pytest

from dsl import dae
from dsl.dae.compiler import compile_spec
from interpreter.dae import BACKEND
from interpreter.dae.cache_model import Requests, replay
from tests.dsl.dae.helpers import copy_kernel, copy_signature, eb_signature

TARGET = {
    "name": "test",
    "access": {
        "tu_steps_per_cycle": 1.0,
        "mem_requests_per_cycle": 1.0,
        "pushes_per_cycle": 1.0,
    },
    "execute": {
        "dispatch_cycles": 4,
        "case_compare_cycles": 1,
        "pop_cycles": 1,
        "scalar_op_cycles": 1,
        "vector_op_cycles": 1,
        "store_cycles": 1,
        "accumulate_cycles": 2,
        "load_cycles": 2,
        "counter_cycles": 1,
        "loop_cycles": 1,
        "load_requests_per_cycle": 1.0,
    },
    "cache": {
        "line_bytes": 64,
        "l1_latency": 4,
        "l2_latency": 14,
        "llc_latency": 40,
    },
    "dram": {"latency_cycles": 200, "bytes_per_cycle": 16.0},
    "budget": {
        "traversal_units": 32,
        "lanes": 8,
        "streams": 32,
        "execute_counters": 16,
        "buffer_bytes": 2048,
        "control_queue_entries": 64,
        "data_queue_entries": 64,
        "outstanding_misses": 32,
        "l1_bytes": 32 * 1024,
        "l2_bytes": 256 * 1024,
        "llc_bytes": 1024 * 1024,
    },
}


def test_copy_of_four_elements_by_hand():
    """out[i] = x[i] for 4 int64 (one cache line).

    Access: iteration 0 misses to DRAM: 40 + 200 = 240 cycles latency (the pipeline fill)
    and 240 / 32 = 7.5 cycles of miss occupancy charged to its first push; every other push
    costs 1 (one push per cycle; later loads hit L1 at 1 request per cycle). Pushes per
    iteration: i, x[i], token. Push times 247.5, 248.5, 249.5, 250.5, ..., 258.5.
    Core: each callback costs dispatch 4 + 2 pops + 1 store = 7. Token 0 can start when
    its three entries are in (249.5) and ends at 256.5; the rest are back to back:
    256.5 + 3 * 7 = 277.5, rounded up to 278. DRAM: 64 B read + 32 B written = 6 cycles.
    """
    program = BACKEND.load(dae.trace(copy_kernel, copy_signature(4)))
    report = BACKEND.simulate(program, {"x": np.arange(4, dtype=np.int64)}, {"N": 4}, TARGET)
    assert report.cycles == 278
    assert report.floor_cycles == pytest.approx(6.0)  # 96 compulsory bytes / 16 B per cycle
    m = report.metrics
    assert (m["callbacks"], m["operands"], m["memory_requests"]) == (4, 8, 4)
    assert m["dram_read_bytes"] == 64 and m["dram_write_bytes"] == 32
    assert m["core_wait_cycles"] == pytest.approx(249.5)
    assert report.per_op["case 0 (put)"]["cycles_each"] == 7


def test_bufferized_rows_by_hand():
    """Two rows of 16 float32 (one 64-byte line each), loaded contiguously in two 8-lane
    chunks and pushed as one buffer per row; the callback stores the row at a counter.

    Access, per row: 3 TU steps (row + 2 chunks), 2 requests (DRAM miss 7.5 + L1 hit 1),
    64 B fill (4 cycles), 1 push: 8.5 cycles on the buffer push, 1 on the token push.
    Fill 240: pushes at 248.5, 249.5, 258, 259. Core: dispatch 4 + pop 1 + store 2 chunks
    + increment 1 + loop overhead 1 (second chunk) = 9. Token 0 runs 249.5..258.5; token 1
    waits for its token (259) and ends at 268.
    """

    def kernel(offsets, indices, table, **params):
        out = dae.output("out")
        row = dae.counter(0)
        with dae.loop(0, 2) as r:
            with dae.loop(0, 16, lanes=8) as c:
                x = dae.load(table, r, c, contiguous=True)

            @dae.callback(c, "end", dae.buffer(x))
            def put(values):
                dae.store(out, (row.get(), dae.arange(16)), values)
                row.increment()

        return out

    program = BACKEND.load(dae.trace(kernel, eb_signature(d=16, n=2)))
    inputs = {
        "offsets": np.zeros(3, dtype=np.int64),
        "indices": np.zeros(1, dtype=np.int64),
        "table": np.arange(32, dtype=np.float32).reshape(2, 16),
    }
    dims = {"B": 2, "NOFF": 3, "NNZ": 1, "N": 2, "D": 16}
    report = BACKEND.simulate(program, inputs, dims, TARGET)
    assert report.cycles == 268
    assert report.floor_cycles == pytest.approx(16.0)  # (2 lines + 128 B written) / 16
    assert report.metrics["memory_requests"] == 4
    assert report.per_op["case 0 (put)"]["cycles_each"] == 9
    assert report.metrics["operand_elements"] == 32


def test_second_case_pays_one_compare():
    def kernel(x, **params):
        out = dae.output("out")
        with dae.loop(0, 4) as i:

            @dae.callback(i, "ite", i)
            def first(k):
                dae.store(out, (k,), k)

            @dae.callback(i, "beg")
            def second():
                pass

        return out

    program = BACKEND.load(dae.trace(kernel, copy_signature(4)))
    report = BACKEND.simulate(program, {"x": np.arange(4, dtype=np.int64)}, {"N": 4}, TARGET)
    assert report.per_op["case 0 (first)"]["cycles_each"] == 4 + 1 + 1
    assert report.per_op["case 1 (second)"]["cycles_each"] == 4 + 1


def _requests(lines, nontemporal):
    n = len(lines)
    return Requests(
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        np.array(lines, dtype=np.int64),
        np.array(nontemporal, dtype=bool),
        np.zeros(n, dtype=np.int64),
        np.full(n, -1, dtype=np.int64),
        np.full(n, -1, dtype=np.int64),
    )


@pytest.mark.parametrize("nontemporal, hot_level", [(False, 4), (True, 2)])
def test_nontemporal_stream_does_not_evict_a_hot_line(nontemporal, hot_level):
    """Line 0 is read, then 10 single-use lines stream through, then line 0 again. With
    L1 = 2, L2 = 8, LLC = 8 lines, the stream evicts line 0 everywhere unless it is
    non-temporal, in which case line 0 stays in L2."""
    stream = list(range(100, 110))
    req = _requests([0] + stream + [0], [False] + [nontemporal] * 10 + [False])
    replay(req, (2, 8, 8))
    assert req.level[0] == 4 and (req.level[1:11] == 4).all()
    assert req.level[-1] == hot_level


def test_repeated_line_hits_l1():
    req = _requests([5, 5, 5, 6, 5], [False] * 5)
    replay(req, (4, 8, 16))
    np.testing.assert_array_equal(req.level, [4, 1, 1, 4, 1])


def _row_gather(contiguous: bool):
    def kernel(offsets, indices, table, **params):
        out = dae.output("out")
        with dae.loop(0, out.shape[0]) as b:
            with dae.loop(0, 16, lanes=8) as c:
                x = dae.load(table, b, c, contiguous=contiguous)

                @dae.callback(c, "ite", b, c, x)
                def put(i, d, v):
                    dae.store(out, (i, d), v)

        return out

    return kernel


def test_contiguous_loads_make_one_request_per_line():
    """Rows of 16 float32 = one 64-byte line: a gather makes 16 requests per row, a
    contiguous load one per 8-lane chunk (both chunks of a row touch the same line)."""
    inputs = {
        "offsets": np.zeros(5, dtype=np.int64),
        "indices": np.zeros(1, dtype=np.int64),
        "table": np.ones((50, 16), dtype=np.float32),
    }
    dims = {"B": 4, "NOFF": 5, "NNZ": 1, "N": 50, "D": 16}
    counts = []
    for contiguous in (False, True):
        program = BACKEND.load(dae.trace(_row_gather(contiguous), eb_signature(d=16)))
        counts.append(BACKEND.simulate(program, inputs, dims, TARGET).metrics["memory_requests"])
    assert counts == [4 * 16, 4 * 2]


def test_the_ladder_is_monotone_and_above_the_floor():
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 20, 32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    nnz = int(offsets[-1])
    inputs = {
        "offsets": offsets,
        "indices": rng.integers(0, 2000, nnz).astype(np.int64),
        "table": rng.standard_normal((2000, 64)).astype(np.float32),
    }
    dims = {"B": 32, "NOFF": 33, "NNZ": nnz, "N": 2000, "D": 64}
    cycles = []
    for level in range(4):
        namespace: dict = {}
        exec(compile_spec({"op": "embedding_bag"}, tuple(inputs), level), namespace)
        program = BACKEND.load(dae.trace(namespace["kernel"], eb_signature(d=64, n=2000)))
        report = BACKEND.simulate(program, inputs, dims, TARGET)
        assert report.cycles >= report.floor_cycles
        assert report.bottleneck
        cycles.append(report.cycles)
    assert cycles[0] > cycles[1] > cycles[2] > cycles[3]
    assert cycles[0] / cycles[3] > 5


def test_every_op_has_semantics_and_a_cost():
    from dsl.core.spec import COST, SEMANTICS
    from dsl.dae.ops import DAE

    assert len(DAE) >= 13
    for concern in (SEMANTICS, COST):
        assert DAE.missing(concern) == [] and DAE.stray(concern) == []


def test_reference_documents_every_builder_function():
    import inspect
    from pathlib import Path

    text = (Path(dae.__file__).parent / "REFERENCE.md").read_text()
    functions = [
        n
        for n in dae.__all__
        if inspect.isfunction(getattr(dae, n)) and n not in ("trace", "load_ir")
    ]
    missing = [n for n in functions if f"dae.{n}(" not in text]
    assert not missing, f"REFERENCE.md lacks {missing}"
