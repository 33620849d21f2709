"""A solve that stops at held steps and resumes when they are released (STeP's HBM loop)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interpreter.core import channels_kernel as kernel
from interpreter.core.channels import ChannelDeadlock, ChannelNetwork
from tests.interpreter.core.reference_sim import ReferenceDeadlock, simulate
from tests.interpreter.core.test_channels import event_loop, networks


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


@pytest.mark.parametrize("loop", ["plain", "compiled"])
@settings(max_examples=80, deadline=None)
@given(net=networks(), data=st.data())
def test_many_hold_release_rounds_equal_the_reference(loop, net, data):
    """Hold any steps, then release them a few at a time (in any order, at new times), with
    a run after each round, as STeP's HBM loop does: the result is the reference machine's
    with the final releases. A resumed run visits only the released steps' units and what
    they wake, so a unit left asleep or a cursor carried wrongly between rounds shows here;
    and a step that fired in an early round must already have its final start."""
    sizes = [len(u.cost) for u in net.units]
    steps = sum(sizes)
    if not steps:
        return
    run = net.resumable()
    held = data.draw(st.lists(st.integers(0, steps - 1), unique=True, max_size=steps))
    times = run.release.copy()
    for g in held:
        times[g] = data.draw(st.sampled_from([0.0, 1.0, 4.0, 9.0, 1 / 3])) + times[g]
    for u, (a, b) in enumerate(zip(run.step_off[:-1], run.step_off[1:], strict=True)):
        net.set_release(u, times[a:b])
    try:
        want = simulate(net)
    except ReferenceDeadlock:
        want = None
    run.hold(0, np.array(held, dtype=np.int64))  # flat numbers: unit 0's offset is 0
    snapshots = []
    with event_loop(loop):
        run.run()
        while held:
            snapshots.append((run.fired.copy(), run.start.copy()))
            k = data.draw(st.integers(1, len(held)))
            now, held = held[:k], held[k:]
            run.release_steps(np.array(now, dtype=np.int64), times[now])
            run.run()
        if want is None:
            with pytest.raises(ChannelDeadlock):
                run.timeline()
            return
        got = run.timeline().start
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    final = np.concatenate(want) if steps else np.zeros(0)
    for fired, start in snapshots:
        for u, n in enumerate(fired):
            a = run.step_off[u]
            np.testing.assert_array_equal(start[a : a + n], final[a : a + n])


def test_a_resumed_run_visits_only_what_a_release_moves(monkeypatch):
    """Two independent pipelines (3 and 5 steps), each held at its consumer's step 1:
    releasing the first one's step must not even check the second's channel (a visit of
    either unit of it would)."""
    net = ChannelNetwork()
    for k, n in enumerate((3, 5)):
        a = net.add_unit(f"a{k}", np.ones(n))
        b = net.add_unit(f"b{k}", np.ones(n))
        net.add_channel(f"a{k}->b{k}", a, b, depth=1, latency=1.0)
    run = net.resumable()
    run.hold(1, np.array([1]))
    run.hold(3, np.array([1]))
    with event_loop("plain"):
        run.run()
        assert run.fired.tolist() == [2, 1, 2, 1]
        run.release_steps(run.step_off[1] + np.array([1]), np.array([5.0]))
        checked = []  # the lengths of the channels whose horizon a visit checks
        for name in ("_inputs_block", "_credit_block"):
            check = getattr(kernel, name)
            spy = functools.partial(
                lambda check, j, n, *rest: checked.append(n) or check(j, n, *rest), check
            )
            monkeypatch.setattr(kernel, name, spy)
        run.run()
    assert checked and 5 not in checked
    assert run.fired.tolist() == [3, 3, 2, 1]
    # a's step 2 waits for b to take token 1 (depth 1) at 5; token 2 arrives at 5 + 1
    assert run.start[:6].tolist() == [0.0, 1.0, 5.0, 1.0, 5.0, 6.0]
