"""Execute-side loads go through the same memory model as the access side's: caches, DRAM
latency and bandwidth, the floor. Cycle counts are worked out by hand in the docstrings."""

from __future__ import annotations

import numpy as np
import pytest

from dsl import dae
from interpreter.dae import BACKEND
from tests.interpreter.dae.test_timing import TARGET


def _signature(n: int = 4, m: int = 2) -> dict:
    """idx [M] int64, table [N, 16] float32 -> out [M, 16] float32 (a row is one line)."""
    return {
        "dialect": "dae",
        "inputs": [
            {"name": "idx", "dtype": "int64", "shape": ["M"]},
            {"name": "table", "dtype": "float32", "shape": ["N", 16]},
        ],
        "outputs": [{"name": "out", "dtype": "float32", "shape": ["M", 16]}],
        "dims": {"M": m, "N": n},
        "params": {},
    }


def row_copy_in_callback(idx, table, **params):
    """The access side only pushes each row number; the callback loads the row itself."""
    out = dae.output("out")
    row = dae.counter(0)
    with dae.loop(0, idx.shape[0]) as i:
        r = dae.load(idx, i)

        @dae.callback(i, "ite", r)
        def copy(k):
            dae.store(out, (row.get(), dae.arange(16)), dae.load(table, k, dae.arange(16)))
            row.increment()

    return out


def _simulate(rows: list[int]):
    program = BACKEND.load(dae.trace(row_copy_in_callback, _signature()))
    table = np.arange(64, dtype=np.float32).reshape(4, 16)
    inputs = {"idx": np.array(rows, dtype=np.int64), "table": table}
    outputs = {"out": np.full((2, 16), np.nan, dtype=np.float32)}
    BACKEND.execute(program, dict(inputs), outputs, {"M": 2, "N": 4}, target=TARGET)
    np.testing.assert_array_equal(outputs["out"], table[rows])
    return BACKEND.simulate(program, inputs, {"M": 2, "N": 4}, TARGET)


def test_second_load_of_the_same_row_hits_l1():
    """idx = [0, 0]. Access: entry 0 (operand idx[0]) costs max(1 step, 240/32 = 7.5 miss
    occupancy, 64 B / 16 = 4 of bandwidth, 1 push) = 7.5 after the 240-cycle fill: 247.5;
    token 0 at 248.5; idx[1] hits L1 (1 request cycle): 249.5; token 1: 250.5.
    Core, per token: dispatch 4 + pop 1 + load 2 chunks x 2 + store 2 x 1 + increment 1 +
    1 loop cycle for the second chunk = 13. The row load makes one request per chunk (both
    in row 0's line). Token 0's first misses to DRAM and holds a miss slot 240/32 = 7.5
    cycles, the second hits L1 (1 cycle): 8.5 of issue, 4.5 beyond the 4 the chunks cost
    anyway, and the core waits 240 - 4 = 236 for the miss: 13 + 240.5 = 253.5, from 248.5
    to 502. Token 1's row is in L1 (2 x 1 cycle of issue, within the 4): 13 more, 515.
    Floor: lines idx, row 0 = 128 B read + 128 B written over 16 B/cycle."""
    report = _simulate([0, 0])
    assert report.cycles == 515
    assert report.floor_cycles == pytest.approx(16.0)
    m = report.metrics
    assert (m["memory_requests"], m["execute_memory_requests"]) == (2, 4)
    assert m["execute_memory_stall_cycles"] == pytest.approx(240.5)
    assert m["dram_read_bytes"] == 128 and m["l1_hits"] == 4
    assert report.per_op["case 0 op 4 (load table)"]["l1_hit_rate"] == 0.75


def test_a_second_row_misses_again():
    """idx = [0, 1]: as above, but token 1's row is a new line and misses to DRAM too:
    502 + 253.5 = 755.5 -> 756. Floor: three lines read (192 B) + 128 B written = 20."""
    report = _simulate([0, 1])
    assert report.cycles == 756
    assert report.floor_cycles == pytest.approx(20.0)
    assert report.metrics["execute_memory_stall_cycles"] == pytest.approx(2 * 240.5)
    assert report.metrics["dram_read_bytes"] == 192


def test_callback_loads_share_the_caches_with_the_access_side():
    """When the access side has already loaded the row (and pushed it), the callback's
    load of the same row hits L1: no stall."""

    def kernel(idx, table, **params):
        out = dae.output("out")
        with dae.loop(0, idx.shape[0]) as i:
            r = dae.load(idx, i)
            with dae.loop(0, 16, lanes=8) as c:
                x = dae.load(table, r, c, contiguous=True)

            @dae.callback(c, "end", i, r, dae.buffer(x))
            def both(k, row, pushed):
                again = dae.load(table, row, dae.arange(16))
                dae.store(out, (k, dae.arange(16)), again + pushed * 0.0)

        return out

    program = BACKEND.load(dae.trace(kernel, _signature()))
    inputs = {"idx": np.array([2, 3]), "table": np.ones((4, 16), dtype=np.float32)}
    report = BACKEND.simulate(program, inputs, {"M": 2, "N": 4}, TARGET)
    assert report.metrics["execute_memory_requests"] == 4  # a request per chunk
    assert report.metrics["execute_memory_stall_cycles"] == 0
    assert report.per_op["case 0 op 4 (load table)"]["l1_hit_rate"] == 1.0


def test_bytes_are_charged_for_the_type_the_data_has():
    """16 int32 values are 64 bytes, one line: the callback's two 8-lane chunks both ask for
    it (2 requests), DRAM sends it once. Were they charged as the int64 they become in the
    core, they would span two lines."""

    def kernel(x, **params):
        out = dae.output("out")
        with dae.loop(0, 1) as i:

            @dae.callback(i, "ite")
            def widen():
                cols = dae.arange(16)
                dae.store(out, (cols,), dae.load(x, cols))

        return out

    signature = {
        "dialect": "dae",
        "inputs": [{"name": "x", "dtype": "int32", "shape": [16]}],
        "outputs": [{"name": "out", "dtype": "int64", "shape": [16]}],
        "dims": {},
        "params": {},
    }
    program = BACKEND.load(dae.trace(kernel, signature))
    x = {"x": np.arange(16, dtype=np.int32) - 8}
    outputs = {"out": np.zeros(16, dtype=np.int64)}
    BACKEND.execute(program, dict(x), outputs, {}, target=TARGET)
    np.testing.assert_array_equal(outputs["out"], np.arange(16) - 8)
    report = BACKEND.simulate(program, x, {}, TARGET)
    assert report.metrics["execute_memory_requests"] == 2
    assert report.metrics["dram_read_bytes"] == 64
    assert report.floor_cycles == pytest.approx((64 + 128) / 16)  # + 16 int64 written


def test_rows_of_width_zero_write_and_load_nothing():
    """A dim of 0 makes empty rows: nothing is read, nothing written, no crash (the
    program-order write-back once indexed its first write, which did not exist)."""

    def kernel(x, **params):
        out = dae.output("out")
        with dae.loop(0, 2) as i:

            @dae.callback(i, "ite")
            def copy():
                cols = dae.arange("W")
                dae.store(out, (cols,), dae.load(x, cols))

        return out

    signature = {
        "dialect": "dae",
        "inputs": [{"name": "x", "dtype": "float32", "shape": ["W"]}],
        "outputs": [{"name": "out", "dtype": "float32", "shape": ["W"]}],
        "dims": {"W": None},
        "params": {},
    }
    program = BACKEND.load(dae.trace(kernel, signature))
    x = {"x": np.zeros(0, dtype=np.float32)}
    BACKEND.execute(program, dict(x), {"out": np.zeros(0, np.float32)}, {"W": 0}, TARGET)
    report = BACKEND.simulate(program, x, {"W": 0}, TARGET)
    assert report.metrics["execute_memory_requests"] == 0
    assert report.metrics["dram_read_bytes"] == 0
