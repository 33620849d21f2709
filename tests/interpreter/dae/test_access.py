"""Golden push orders of the access side (the event layout every other result rests on)."""

from __future__ import annotations

import numpy as np

from dsl import dae
from interpreter.dae import BACKEND
from interpreter.dae.access import run_access
from interpreter.dae.execute import match_queues
from tests.dsl.dae.helpers import eb_signature


def _events(offsets, indices, table, **params):
    out = dae.output("out")
    with dae.loop(0, 2) as b:  # two bags of sizes offsets-given
        with dae.loop(dae.load(offsets, b), dae.load(offsets, b + 1)) as j:

            @dae.callback(j, "ite", j)
            def item(k):  # case 0
                pass

        @dae.callback(j, "beg", b)
        def begin(i):  # case 1
            pass

        @dae.callback(j, "end", b)
        def end(i):  # case 2
            pass

        @dae.callback(b, "ite", b)
        def bag(i):  # case 3
            pass

    return out


def _run(kernel, offsets):
    program = BACKEND.load(dae.trace(kernel, eb_signature(d=4, n=3)))
    arrays = {
        "offsets": np.array(offsets, dtype=np.int64),
        "indices": np.zeros(5, np.int64),
        "table": np.zeros((3, 4), np.float32),
        "out": np.zeros((2, 4), np.float32),
    }
    dims = {"B": 2, "NOFF": len(offsets), "NNZ": 5, "N": 3, "D": 4}
    run = run_access(program, arrays, dims)
    return run, match_queues(run, 64, 64)


def test_fiber_order_is_beg_iterations_end_and_parent_ite_first():
    run, sched = _run(_events, [0, 2, 2])
    # bag 0: its ite (3), the inner fiber: beg (1), two items (0, 0), end (2);
    # bag 1: ite (3), an empty inner fiber: beg (1), end (2)
    assert sched.tokens.tolist() == [3, 1, 0, 0, 2, 3, 1, 2]
    values = [
        int(run.operand_values(run.program.registrations[r], np.array([i]))[0][0])
        for r, i in zip(
            run.entries.reg[sched.data_pos], run.entries.inst[sched.data_pos], strict=True
        )
    ]
    # operands: bag 0, bag 0 (beg), items 0, 1, bag 0 (end), bag 1, bag 1, bag 1
    assert values == [0, 0, 0, 1, 0, 1, 1, 1]


def test_vector_loop_tail_mask():
    def kernel(offsets, indices, table, **params):
        out = dae.output("out")
        with dae.loop(0, 11, lanes=8) as c:

            @dae.callback(c, "ite", c)
            def chunk(d):
                pass

        return out

    run, sched = _run(kernel, [0, 1, 2])
    state = run.tus[0]
    assert state.n == 2
    np.testing.assert_array_equal(state.iv[1][:3], [8, 9, 10])
    np.testing.assert_array_equal(state.mask.sum(axis=1), [8, 3])
    assert len(sched.tokens) == 2
