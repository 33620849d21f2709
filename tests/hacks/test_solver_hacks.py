"""The one event solver attacked as an agent would: every dialect hands it units and channels
derived from an untrusted program, so whatever a program can make those numbers be must time
correctly, or fail in one line, and never pass as a fast finish.

| hack | before (this session's tree) | now |
| a channel of 5 tokens, one per step, from a producer of 2 steps | timed: tokens 2-4 were
  "emitted" at the start times of whatever unit lies next in memory, so the consumer ran at
  1..5 on tokens never made | one-line ValueError naming the channel and the step counts |
| costs summing past 2**53 (2**60 per step) | times handed back, though float64 no longer
  tells t from t + 1 there | SimulationError "no longer exact" |
| a step cost of 1e308 | times handed back, the step's end inf (SAM casts times to int64) |
  SimulationError |
| depth 2**70 | OverflowError deep in numpy | one-line ValueError |
| zero-cost, zero-latency ring of 5K steps | times 0 (finite, exact) | same, checked |
| tokens taken "before" they are emitted (a cycle through two units) | ChannelDeadlock |
  same, checked: never a timeline |
| a deadlock after half the steps fired | ChannelDeadlock | same, checked for both the plain
  and the compiled loop |
"""

from __future__ import annotations

import numpy as np
import pytest

from interpreter.core import channels
from interpreter.core import channels_kernel as kernel
from interpreter.core.channels import ChannelDeadlock, ChannelNetwork
from interpreter.errors import SimulationError
from tests.interpreter.core.reference_sim import simulate


@pytest.fixture(params=["plain", "compiled"])
def loop(request, monkeypatch):
    """Each hack against both loops (the same source, run as Python or compiled)."""
    plain = request.param == "plain"
    monkeypatch.setattr(
        channels, "_event_loop", lambda size: kernel.run_events if plain else channels._compiled()
    )
    return request.param


def test_more_tokens_one_per_step_than_the_producer_has_steps_is_refused():
    net = ChannelNetwork()
    a = net.add_unit("a", np.ones(2))
    b = net.add_unit("b", np.ones(5))
    with pytest.raises(ValueError, match=r"channel 'ab': 5 tokens, one per step, but the emit side has 2 steps"):  # fmt: skip
        net.add_channel("ab", a, b, None, np.arange(5), latency=1.0)
    with pytest.raises(ValueError, match="channel 'ba': 4 tokens, one per step, but the take"):
        net.add_channel("ba", b, a, np.arange(4), None)


def test_take_steps_past_the_consumer_are_refused():
    net = ChannelNetwork()
    a, b = net.add_unit("a", np.ones(3)), net.add_unit("b", np.ones(2))
    with pytest.raises(ValueError, match=r"channel 'ab': take steps must be non-decreasing, within 0\.\.1"):  # fmt: skip
        net.add_channel("ab", a, b, np.arange(3), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="emit steps must be non-decreasing"):
        net.add_channel("ab", a, b, np.array([2, 1]), np.array([0, 1]))


@pytest.mark.parametrize(
    "cost, latency",
    [(np.full(3, 2.0**60), 0.0), (np.array([1.0, 1e308, 1.0]), 0.0), (np.ones(3), 1e308)],
)
def test_times_past_exact_integers_raise_rather_than_round(loop, cost, latency):
    """float64 holds integers exactly up to 2**53; past it (or at inf) a time is a guess."""
    net = ChannelNetwork()
    a = net.add_unit("a", cost)
    b = net.add_unit("b", np.ones(3))
    net.add_channel("ab", a, b, latency=latency)
    with pytest.raises(SimulationError, match="no longer exact"):
        net.solve()


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda n: n.add_unit("z", np.array([1.0, -1.0])), "unit 'z': costs must be"),
        (lambda n: n.add_unit("z", np.array([np.nan])), "unit 'z': costs must be"),
        (lambda n: n.add_unit("z", np.array([np.inf])), "unit 'z': costs must be"),
        (lambda n: n.add_channel("x", 0, 1, latency=-1.0), "channel 'x': latency must be"),
        (lambda n: n.add_channel("x", 0, 1, latency=np.inf), "channel 'x': latency must be"),
        (lambda n: n.add_channel("x", 0, 1, depth=1, offset=np.nan), "'x': offset must be"),
        (lambda n: n.add_channel("x", 0, 1, latency=np.ones(5)), "one value or one per token"),
        (lambda n: n.add_channel("x", 0, 1, depth=2**70), "'x': depth must be an integer"),
        (lambda n: n.add_channel("x", 0, 1, depth=-1), "'x': depth must be an integer"),
        (lambda n: n.add_channel("x", 0, 1, depth=1.5), "'x': depth must be an integer"),
        (lambda n: n.add_channel("x", 0, 7), "'x': no unit 7 as consumer"),
    ],
)
def test_impossible_numbers_are_refused_in_one_line(build, message):
    net = ChannelNetwork()
    net.add_unit("a", np.ones(3))
    net.add_unit("b", np.ones(3))
    with pytest.raises(ValueError, match=message) as info:
        build(net)
    assert "\n" not in str(info.value)


def test_a_zero_time_ring_finishes_at_time_zero(loop):
    """Zero costs and latencies around a ring (b's token m is a's step m+1's input): every
    step starts at 0, computed once each, no livelock, on 5K steps per unit."""
    n = 5_000
    net = ChannelNetwork()
    a, b = net.add_unit("a", np.zeros(n)), net.add_unit("b", np.zeros(n))
    net.add_channel("ab", a, b, depth=1)
    net.add_channel("ba", b, a, np.arange(n - 1), np.arange(1, n), depth=1)
    times = net.solve().start
    assert not times[0].any() and not times[1].any()


def test_tokens_taken_before_they_are_made_deadlock_instead_of_timing(loop):
    """a's step 0 takes b's token of step 1, and b's step 1 needs a's step 0: no order of
    events makes that happen, so no times may come back."""
    net = ChannelNetwork()
    a, b = net.add_unit("a", np.ones(2)), net.add_unit("b", np.ones(2))
    net.add_channel("ab", a, b, np.array([0]), np.array([1]))
    net.add_channel("ba", b, a, np.array([1]), np.array([0]))
    with pytest.raises(ChannelDeadlock) as info:
        net.solve()
    assert [w.unit for w in info.value.cycle] in (["a", "b"], ["b", "a"])
    assert "waits for token 0 on 'ba' from 'b'" in str(info.value)


def test_a_step_taking_its_own_token_is_a_deadlock_of_one(loop):
    net = ChannelNetwork()
    a = net.add_unit("a", np.ones(3))
    net.add_channel("aa", a, a, np.array([1]), np.array([1]))
    with pytest.raises(ChannelDeadlock, match="'a' \\(step 1\\) waits for token 0 on 'aa'"):
        net.solve()


def test_a_deadlock_half_way_is_not_a_fast_finish(loop):
    """The first 1000 steps fire; then a full channel of depth 1 in a ring stops both units.
    The steps that fired are not a timeline: solve raises, and so does a resumable run."""
    n = 2000
    net = ChannelNetwork()
    a, b = net.add_unit("a", np.ones(n)), net.add_unit("b", np.ones(n))
    net.add_channel("ab", a, b, depth=1)
    # b's token 999 is taken by a's step 1000, but b's step 999 must wait for room that
    # only a's step 1000 makes (b -> a has depth 1 and a takes nothing until step 1000)
    net.add_channel("ba", b, a, np.arange(998, n), np.full(n - 998, 1000), depth=1)
    with pytest.raises(ChannelDeadlock):
        net.solve()
    run = net.resumable()
    run.run()
    assert 0 < run.fired.min() and run.fired.max() < n
    with pytest.raises(ChannelDeadlock):
        run.timeline()


def test_a_channel_added_after_a_solve_is_seen_by_the_next(loop):
    net = ChannelNetwork()
    a, b = net.add_unit("a", np.ones(3)), net.add_unit("b", np.ones(3))
    assert net.solve().start[1].tolist() == [0, 1, 2]
    net.add_channel("ab", a, b, latency=5.0)
    assert net.solve().start[1].tolist() == [5, 6, 7]


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_one_per_step_channels_time_as_their_arrays(loop, depth):
    """The array-free channel (None: token m at step m) and the same channel spelled with
    arrays give the same times as the reference machine: the fast path is no shortcut."""
    rng = np.random.default_rng(depth)
    costs = [rng.integers(0, 3, 40).astype(float) for _ in range(3)]
    nets = []
    for spelled in (False, True):
        net = ChannelNetwork()
        units = [net.add_unit(f"u{i}", c) for i, c in enumerate(costs)]
        steps = np.arange(40) if spelled else None
        net.add_channel("01", units[0], units[1], steps, steps, depth=depth, latency=1.0)
        net.add_channel("12", units[1], units[2], steps, steps, depth=depth, lagged=True,
                        offset=2.0)  # fmt: skip
        net.add_channel("02", units[0], units[2], steps, steps, latency=np.arange(40.0) % 3)
        nets.append(net)
    want = simulate(nets[1])
    for net in nets:
        for got, expected in zip(net.solve().start, want, strict=True):
            np.testing.assert_array_equal(got, expected)
