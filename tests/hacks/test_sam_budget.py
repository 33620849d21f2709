"""SAM hardware-budget hacks: speed bought with hardware the chip does not have.

Each program is what an agent chasing cycles would write with the real `dsl.sam` API:

- `spmv_lanes(64)`: SpMV rows dealt over 64 fork lanes (the IR allowed up to 64 per fork
  and any nesting) on a chip with 16 parallel units.
- `spmv_nested_lanes(8, 8)`: two nested 8-lane forks, 64 lanes again, each fork small.
- `spmv_block(2**40)` / `spmv_block(128)`: the matrix re-laid out in huge value blocks; the
  first made the verifier raise instead of answering, the second allocates a dense
  128 x 128 block per stored coordinate on the trusted side.
- FIFO depth: a program cannot ask for deeper FIFOs (no attribute or IR key says so), and
  the depth its timing relies on is counted against the target's FIFO capacity.

`BEFORE` records each program's verdict on the code before budgets (/work/before, measured
with `agent eval`); the tests assert the verdict now. The program texts import nothing of
the verifier, so the same texts run against the old code.
"""

from __future__ import annotations

import copy

import pytest

from benchmarks.task import load_task

SPMV_LANES = """
from dsl import sam


def kernel(A, x, **params):
    y = sam.output("y", format="dense")
    i, i_ref = A.scan(0)
    i, i_order = sam.broadcast(i)
    lanes = []
    for lane_ref in sam.fork(i_ref, {lanes}):
        lane_ref, lane_rep = sam.broadcast(lane_ref)
        j, aj_ref = A.scan(1, lane_ref)
        x_root = sam.repeat(sam.root(), sam.repeat_signal(lane_rep))
        _, xj_ref = x.locate(0, j, x_root)
        lanes.append(sam.reduce(sam.alu("mul", A.load(aj_ref), x.load(xj_ref))))
    y.write_level(0, i)
    y.write_vals(sam.join(i_order, lanes, depth=0))
"""

SPMV_NESTED_LANES = """
from dsl import sam


def kernel(A, x, **params):
    y = sam.output("y", format="dense")
    i, i_ref = A.scan(0)
    i, i_order = sam.broadcast(i)
    outer = []
    for ref in sam.fork(i_ref, {outer}):
        ref, order = sam.broadcast(ref)
        inner = []
        for lane_ref in sam.fork(ref, {inner}):
            lane_ref, lane_rep = sam.broadcast(lane_ref)
            j, aj_ref = A.scan(1, lane_ref)
            x_root = sam.repeat(sam.root(), sam.repeat_signal(lane_rep))
            _, xj_ref = x.locate(0, j, x_root)
            inner.append(sam.reduce(sam.alu("mul", A.load(aj_ref), x.load(xj_ref))))
        outer.append(sam.join(order, inner, depth=0))
    y.write_level(0, i)
    y.write_vals(sam.join(i_order, outer, depth=0))
"""

SPMV_BLOCK = """
from dsl import sam


def kernel(A, x, **params):
    A.with_layout(format="dcsr", block={block})
    y = sam.output("y", format="dense")
    i, i_ref = A.scan(0)
    i, i_rep = sam.broadcast(i)
    j, aj_ref = A.scan(1, i_ref)
    x_root = sam.repeat(sam.root(), sam.repeat_signal(i_rep))
    _, xj_ref = x.locate(0, j, x_root)
    y.write_level(0, i)
    y.write_vals(sam.reduce(sam.alu("mul", A.load(aj_ref), x.load(xj_ref))))
"""


def spmv_lanes(lanes: int) -> str:
    return SPMV_LANES.format(lanes=lanes)


def spmv_nested_lanes(outer: int, inner: int) -> str:
    return SPMV_NESTED_LANES.format(outer=outer, inner=inner)


def spmv_block(block: int) -> str:
    return SPMV_BLOCK.format(block=block)


HACKS = {
    "lanes 64": spmv_lanes(64),
    "nested lanes 8 x 8": spmv_nested_lanes(8, 8),
    "block 2**40": spmv_block(2**40),
    "block 128": spmv_block(128),
}

# `agent eval sam/spmv PROGRAM --seed 5` against /work/before: (status, cycles). The
# baseline took 235 cycles there, 16 lanes 121.
BEFORE = {
    "lanes 64": ("passed", 141),
    "nested lanes 8 x 8": ("passed", 144),
    "block 2**40": ("error", None),  # "internal error: ValueError: array is too big"
    "block 128": ("invalid", None),  # ran on 128 x 128 blocks, then its writer failed
}


@pytest.fixture(scope="module")
def spmv():
    return load_task("sam/spmv")


def _verify(task, source: str):
    from interpreter.verifier import verify

    return verify(task, source, seed=5)


@pytest.mark.slow
def test_lanes_within_the_budget_pass_and_cut_cycles(spmv) -> None:
    """The honest version of the hack: 16 lanes is what the chip has, and it pays."""
    from interpreter.verifier import baseline_cycles

    v = _verify(spmv, spmv_lanes(16))
    assert v.status == "passed", v.feedback
    assert v.cycles < baseline_cycles(spmv, timing_seed=5) / 3


@pytest.mark.parametrize("name", ["lanes 64", "nested lanes 8 x 8"])
def test_lanes_over_the_budget_are_invalid(spmv, name: str) -> None:
    v = _verify(spmv, HACKS[name])
    assert v.status == "invalid", v.feedback
    assert "the program needs 64 lanes, but target 'sam_comal' has a budget of 16" in v.feedback
    assert v.cycles is None


@pytest.mark.parametrize("name", ["block 2**40", "block 128"])
def test_blocks_over_the_cap_are_refused_at_the_line(spmv, name: str) -> None:
    v = _verify(spmv, HACKS[name])
    assert v.status == "invalid", v.feedback
    assert v.feedback.startswith("program.py:6: tensor 'A': block must be an int in 1..64")


def _ir(task, source: str) -> dict:
    from dsl import sam

    namespace: dict = {}
    exec(compile(source, "hack", "exec"), namespace)
    return sam.trace(namespace["kernel"], task.signature())


def test_a_program_cannot_ask_for_deeper_fifos(spmv) -> None:
    from dsl.errors import DialectError
    from dsl.sam import load_ir

    ir = _ir(spmv, spmv_lanes(2))
    for where in (ir, ir["graphs"][0]["nodes"][0]["attrs"]):
        hacked = copy.deepcopy(ir) if where is ir else ir
        target = hacked if where is ir else where
        target["fifo_depth"] = 10**9
        with pytest.raises(DialectError, match="fifo_depth"):
            load_ir(hacked)
        target.pop("fifo_depth")


def test_fifo_depth_the_timing_relies_on_is_counted_against_the_budget(spmv) -> None:
    """A broadcast whose two consumers take its tokens at very different times needs a deep
    FIFO; unbounded-FIFO timing is only honest while that depth is within the chip's."""
    from dsl.sam import load_ir
    from interpreter.errors import BudgetError
    from interpreter.sam import BACKEND
    from interpreter.targets import load_target

    program = load_ir(_ir(spmv, spmv_lanes(2)))
    dims = spmv.full_dims(spmv.checks[0])
    inputs = spmv.make_inputs(dims, 5)
    target = load_target("sam_comal")
    report = BACKEND.simulate(program, inputs, dims, target)
    need = report.resources["fifo_depth"]
    assert 1 <= need < target["budget"]["fifo_depth"]
    assert report.resources["lanes"] == 2 and report.resources["block_size"] == 1
    small = dict(target, budget=dict(target["budget"], fifo_depth=need - 1))
    with pytest.raises(BudgetError, match=f"needs {int(need)} fifo_depth"):
        BACKEND.simulate(program, inputs, dims, small)
    # at exactly the depth it needs, bounded FIFOs give the same cycles
    bounded = dict(target, fifo_depth=int(need))
    assert BACKEND.simulate(program, inputs, dims, bounded).cycles == report.cycles
    # one shallower and the producer must stall somewhere: never faster
    shallower = BACKEND.simulate(program, inputs, dims, dict(target, fifo_depth=int(need) - 1))
    assert shallower.cycles >= report.cycles and shallower.resources["fifo_depth"] < need
