"""STeP dispatch: the run the verifier checks must be the run the simulator times, and a
feedback loop that cannot finish is refused, never timed.

`step.dispatch` routes each chunk by time (to the region whose free signal comes first),
so its routing is known only after timing: `simulate` iterates functional and timing passes
to the first-free routing. `execute`, which the verifier checks against the reference, ran
one functional pass and so routed round-robin. A program correct only under round-robin
passed every check while the run that produced its cycles computed something else.

| hack | before (this session's tree) | now |
| `relabelled`: each region stores its j-th result at row r + j * regions (where
  round-robin would have sent it) instead of the dispatched row index | `execute` writes
  the right y (round-robin routing); in the timed run rows 2-7 hold other rows: "passed" with
  the cycles of a wrong run | `execute` routes as the timed run does: y is wrong, the
  verifier answers "incorrect" |
| `hoarding`: each region sends its free signals only once all its chunks are done (its
  results buffered over the whole region stream), so the dispatcher waits for a signal that
  waits for the next chunk | `simulate`: one-line "deadlock: dispatch ... never finishes";
  `execute` wrote the outputs of that impossible run | both refuse in that one line |
"""

from __future__ import annotations

import numpy as np
import pytest

from dsl import step
from interpreter.errors import ExecutionError
from interpreter.step import BACKEND
from interpreter.step.sim import run_timed, target_params
from interpreter.targets import load_target
from tests.interpreter.step import dispatch_programs as dp

TARGET = load_target("step_default")
# Requests whose first-free routing differs from round-robin but gives each region 4:
# regions 0 and 1 get chunks [0, 3, 6, 7] and [1, 2, 4, 5].
WORK = [11, 9, 9, 15, 5, 14, 11, 1]


def relabelled(x, work, regions=2):
    """Each region counts its own chunks and stores the j-th at row r + j * regions."""
    w, index = dp.requests(work, x.shape[0].value)
    parts = step.dispatch([w, index], regions)
    stores, signals = [], []
    for r, (w_r, i_r) in enumerate(parts):
        i_r, mine = step.copy(i_r)
        ones = step.map(mine, step.fn.affine_index(scale=0, offset=1))
        count = step.scan(ones, "add", rank=1)
        row = step.map(count, step.fn.affine_index(scale=regions, offset=r - regions))
        store, free = dp.region(x, w_r, step.assume_shape(row, i_r.shape))
        step.sink(i_r)
        stores.append(store)
        signals.append(free)
    step.free_signal(signals, of=parts)
    return stores


def _checked_and_timed(kernel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y as `execute` writes it, y as the timed run wrote it, the right y)."""
    program = step.load_ir(step.trace(kernel, dp.SIG))
    data = dp.inputs(WORK)
    checked = {"y": np.full((dp.N, dp.C), np.nan, np.float32)}
    BACKEND.execute(program, data, checked, {}, TARGET)
    ctx, *_ = run_timed(program, data, {}, target_params(TARGET))
    full, mask = ctx.written["y"]
    timed = np.where(mask, full, np.nan).astype(np.float32)
    return checked["y"], timed, data["work"][:, None] * data["x"]


def test_a_program_right_only_under_round_robin_is_checked_as_timed() -> None:
    checked, timed, right = _checked_and_timed(relabelled)
    np.testing.assert_array_equal(checked, timed)
    assert not np.allclose(checked, right, rtol=1e-5, atol=1e-5)  # so: "incorrect"


def test_an_honest_dispatch_is_still_right_under_its_timed_routing() -> None:
    checked, timed, right = _checked_and_timed(dp.dynamic)
    np.testing.assert_array_equal(checked, timed)
    np.testing.assert_allclose(checked, right, rtol=1e-5, atol=1e-5)


def hoarding(x, work, regions=2):
    """Each region's free signals are its results, released only after the last of them."""
    w, index = dp.requests(work, x.shape[0].value)
    parts = step.dispatch([w, index], regions)
    stores, signals = [], []
    for w_r, i_r in parts:
        store, free = dp.region(x, w_r, i_r)
        held = step.streamify(step.bufferize(step.promote(free), rank=1))
        signals.append(step.flatten(held, min_dim=0, max_dim=1))
        stores.append(store)
    step.free_signal(signals, of=parts)
    return stores


@pytest.mark.parametrize("run", ["execute", "simulate"])
def test_a_loop_whose_signals_wait_for_more_work_is_refused_in_one_line(run: str) -> None:
    program = step.load_ir(step.trace(hoarding, dp.SIG))
    data = dp.inputs(WORK)
    with pytest.raises(ExecutionError) as err:
        if run == "execute":
            out = {"y": np.full((dp.N, dp.C), np.nan, np.float32)}
            BACKEND.execute(program, data, out, {}, TARGET)
        else:
            BACKEND.simulate(program, data, {}, TARGET)
    assert str(err.value).startswith("deadlock: dispatch (node 5")
    assert "never finishes" in str(err.value) and "\n" not in str(err.value)
