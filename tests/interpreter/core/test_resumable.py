"""A solve that stops at held steps and resumes when they are released (STeP's HBM loop)."""

from __future__ import annotations

import numpy as np
import pytest

from interpreter.core.channels import ChannelDeadlock, ChannelNetwork
from tests.interpreter.core.reference_sim import simulate


def _pipeline(release: np.ndarray | None = None) -> ChannelNetwork:
    """A (3 steps of 2 cycles) -> B (3 steps of 1 cycle), depth 1; B may have releases."""
    net = ChannelNetwork()
    a = net.add_unit("a", np.full(3, 2.0))
    b = net.add_unit("b", np.ones(3), release)
    net.add_channel("a->b", a, b, depth=1, latency=2.0)
    return net


def test_held_step_stops_its_unit_and_what_waits_on_it() -> None:
    """B's step 1 is held: B stops after step 0; A's step 2 needs B to take token 1 (depth
    1), so A stops after step 1."""
    run = _pipeline().resumable()
    run.hold(1, np.array([1]))
    run.run()
    assert run.fired.tolist() == [2, 1]
    assert run.start[:2].tolist() == [0.0, 2.0]  # A: 0, 2
    assert run.start[3].tolist() == 2.0  # B step 0: token 0 arrives at 0 + 2


def test_release_then_resume_equals_one_solve_with_that_release() -> None:
    """Hand-computed: B's step 1 released at 10 starts at 10 (token 1 arrived at 4); A's
    step 2 waits for it (depth 1): 10; token 2 arrives at 12, B's step 2 starts 12."""
    run = _pipeline().resumable()
    run.hold(1, np.array([1]))
    run.run()
    run.release_steps(run.step_off[1] + np.array([1]), np.array([10.0]))
    run.run()
    got = run.timeline().start
    assert got[0].tolist() == [0.0, 2.0, 10.0]
    assert got[1].tolist() == [2.0, 10.0, 12.0]
    want = _pipeline(np.array([0.0, 10.0, 0.0]))
    assert [s.tolist() for s in want.solve().start] == [s.tolist() for s in got]
    assert [s.tolist() for s in simulate(want)] == [s.tolist() for s in got]


def test_a_step_still_held_at_the_end_is_named() -> None:
    run = _pipeline().resumable()
    run.hold(0, np.array([0]))
    run.run()
    assert run.fired.tolist() == [0, 0]
    with pytest.raises(ValueError, match="unit 'a' step 0 is still held"):
        run.timeline()


def test_a_true_deadlock_is_still_found() -> None:
    """B takes both tokens at its step 1 (depth 1): A cannot emit token 1 before B took
    token 0, and B cannot take it before token 1 is there."""
    net = ChannelNetwork()
    a = net.add_unit("a", np.ones(2))
    b = net.add_unit("b", np.ones(2))
    net.add_channel("a->b", a, b, take=np.array([1, 1]), depth=1)
    run = net.resumable()
    run.run()
    with pytest.raises(ChannelDeadlock):
        run.timeline()
