"""The bounded-channel event solver: hand-computed pipelines, deadlock naming, and the
solver against the event-by-event reference machine on random small networks."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interpreter.core import channels, jit
from interpreter.core import channels_kernel as kernel
from interpreter.core.channels import ChannelDeadlock, ChannelNetwork, peak_occupancy
from interpreter.errors import SimulationError
from tests.interpreter.core.reference_sim import ReferenceDeadlock, simulate

ROOT = Path(__file__).resolve().parents[3]


def pipeline(depth: int) -> tuple[ChannelNetwork, int]:
    """A producer emitting one token per 1-cycle step, arriving 1 cycle later, to a
    consumer taking one per 3-cycle step."""
    net = ChannelNetwork()
    p = net.add_unit("producer", np.ones(4))
    c = net.add_unit("consumer", np.full(4, 3.0))
    return net, net.add_channel("pc", p, c, depth=depth, latency=1.0)


def test_depth_one_pipeline_by_hand():
    """P0 = 0, token 0 arrives at 1, C0 = 1. P1 may emit once C took token 0: 1; C1 = C0 +
    3 = 4. P2 waits for C1: 4, C2 = 7; P3 waits for C2: 7, C3 = 10."""
    net, ch = pipeline(1)
    tl = net.solve()
    np.testing.assert_array_equal(tl.start[0], [0, 1, 4, 7])
    np.testing.assert_array_equal(tl.start[1], [1, 4, 7, 10])
    np.testing.assert_array_equal(tl.arrival(ch), [1, 2, 5, 8])
    np.testing.assert_array_equal(tl.end(1), [4, 7, 10, 13])
    assert tl.occupancy(ch) == 1


def test_depth_two_pipeline_by_hand():
    """Two tokens ahead: P0, P1, P2 = 0, 1, 2 (P2 needs C0 = 1); P3 needs C1 = 4."""
    net, ch = pipeline(2)
    tl = net.solve()
    np.testing.assert_array_equal(tl.start[0], [0, 1, 2, 4])
    np.testing.assert_array_equal(tl.start[1], [1, 4, 7, 10])
    assert tl.occupancy(ch) == 2


def test_unbounded_pipeline_needs_depth_three():
    """Unbounded, P runs at 0..3 while C takes at 1, 4, 7, 10: token 3 enters at 3 while
    tokens 1 and 2 wait, so 3 tokens are held; depth 2 would delay it (see above)."""
    net, ch = pipeline(0)
    tl = net.solve()
    np.testing.assert_array_equal(tl.start[0], [0, 1, 2, 3])
    np.testing.assert_array_equal(tl.start[1], [1, 4, 7, 10])
    assert tl.occupancy(ch) == 3


def test_lagged_credits_hold_only_a_stalled_step():
    """The depth-1 pipeline with its credit seen one step late. P1 runs back to back (no
    earlier credit). P2 likewise: P1's credit (C0 = 1) is met at 2; its own (C1 = 4) is not
    looked at. P3: P2's credit C1 = 4 is not met at 3, so P3 stalls and waits for its own
    credit too (C2 = 7): 7."""
    net = ChannelNetwork()
    p = net.add_unit("producer", np.ones(4))
    c = net.add_unit("consumer", np.full(4, 3.0))
    net.add_channel("pc", p, c, depth=1, latency=1.0, lagged=True)
    tl = net.solve()
    np.testing.assert_array_equal(tl.start[p], [0, 1, 2, 7])
    np.testing.assert_array_equal(tl.start[c], [1, 4, 7, 10])


@pytest.mark.parametrize("credit_only, taken", [(True, [1, 2]), (False, [1, 50])])
def test_a_credit_only_channel_delays_no_consumer(credit_only, taken):
    """P's step 0 emits data tokens 0 and 1 (arriving at 1); its step 1 is released at 50.
    Room for token 1 is counted from P's step 1 (SAM's credits bind the step after an
    emit). As a credit-only channel that waits for nothing at C: C takes at 1 and 2; as a
    data channel, C's step 1 would wait for P's step 1."""
    net = ChannelNetwork()
    p = net.add_unit("P", np.ones(2), np.array([0.0, 50.0]))
    c = net.add_unit("C", np.ones(2))
    net.add_channel("data", p, c, np.array([0, 0]), latency=1.0)
    net.add_channel("room", p, c, np.array([0, 1]), depth=2, credit_only=credit_only)
    np.testing.assert_array_equal(net.solve().start[c], taken)


def test_push_at_the_end_of_work_is_a_step_of_its_own():
    """DAE's access side: 1 cycle of work, then a push that waits for room (a cost-0
    step). Queue of 1 to a core taking 10 cycles per token: pushes at 1, 2, 11, 21."""
    net = ChannelNetwork()
    access = net.add_unit("access", np.tile([1.0, 0.0], 4))
    core = net.add_unit("core", np.full(4, 10.0))
    ch = net.add_channel("control", access, core, np.arange(1, 8, 2), depth=1)
    tl = net.solve()
    np.testing.assert_array_equal(tl.emitted(ch), [1, 2, 11, 21])
    np.testing.assert_array_equal(tl.start[core], [1, 11, 21, 31])


def test_release_offset_and_several_tokens_per_step():
    """A consumer step taking two tokens waits for the later one; a release holds a step;
    an offset delays the credit. P emits tokens 0, 1 at step 0 and 2, 3 at step 1 (cost 1,
    latency 2); C takes 0, 1 at step 0 and 2, 3 at step 1 (cost 5), depth 2 with offset 3:
    P1 >= C0 + 3 = 5. C0 = 2, C1 = max(7, 5 + 2) = 7. With release 9 on C's step 1: 9."""
    net = ChannelNetwork()
    p = net.add_unit("P", np.ones(2))
    c = net.add_unit("C", np.full(2, 5.0), release=np.array([0.0, 9.0]))
    steps = np.array([0, 0, 1, 1])
    net.add_channel("pc", p, c, steps, steps, depth=2, latency=2.0, offset=3.0)
    tl = net.solve()
    np.testing.assert_array_equal(tl.start[p], [0, 5])
    np.testing.assert_array_equal(tl.start[c], [2, 9])


def broadcast_to_a_join(depth: int) -> ChannelNetwork:
    """P sends every value down two channels; C reads all of the first, then the second:
    with fewer slots than values, P can never emit its second value."""
    net = ChannelNetwork()
    p = net.add_unit("P", np.ones(4))
    c = net.add_unit("C", np.ones(8))
    net.add_channel("x", p, c, take=np.arange(4), depth=depth)
    net.add_channel("y", p, c, take=np.arange(4, 8), depth=depth)
    return net


def test_deadlock_names_the_cycle_of_full_channels():
    with pytest.raises(ChannelDeadlock) as info:
        broadcast_to_a_join(1).solve()
    assert str(info.value) == (
        "deadlock in a cycle of channels: 'P' (step 1) waits for room on 'y' (full at depth"
        " 1) until 'C' takes token 0 -> 'C' (step 1) waits for token 1 on 'x' from 'P'"
        " -> back to 'P'"
    )
    assert isinstance(info.value, SimulationError)
    assert [(w.unit, w.step, w.full) for w in info.value.cycle] == [("P", 1, True), ("C", 1, False)]
    broadcast_to_a_join(4).solve()  # room for every value: no deadlock


def test_a_unit_waiting_on_itself_is_a_cycle_of_one():
    net = ChannelNetwork()
    u = net.add_unit("loop", np.ones(2))
    net.add_channel("back", u, u, np.array([1]), np.array([0]))
    with pytest.raises(ChannelDeadlock, match="'loop' \\(step 0\\) waits for token 0 on 'back'"):
        net.solve()


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda n, a, b: n.add_channel("c", a, b, np.array([1, 0])), "non-decreasing"),
        (lambda n, a, b: n.add_channel("c", a, b, np.array([3])), "within 0..2"),
        (lambda n, a, b: n.add_channel("c", a, 7), "no unit 7 as consumer"),
        (lambda n, a, b: n.add_channel("c", a, b, np.arange(2), np.arange(3)), "2 emits but 3"),
        (lambda n, a, b: n.add_channel("c", a, b, depth=-1), "depth must be"),
        (lambda n, a, b: n.add_channel("c", a, b, latency=-1.0), "latency must be"),
        (lambda n, a, b: n.add_channel("c", a, b, latency=np.array([0, 1, np.nan])), "latency"),
        (lambda n, a, b: n.add_channel("c", a, b, latency=np.array([0, np.inf, 1])), "latency"),
        (lambda n, a, b: n.add_channel("c", a, b, offset=np.array([0, -1, 0])), "offset must be"),
        (lambda n, a, b: n.add_channel("c", a, b, lagged=True), "lagged channel needs a depth"),
        (lambda n, a, b: n.add_channel("c", a, b, credit_only=True), "credit-only channel needs"),
        (lambda n, a, b: n.add_unit("u", np.array([1.0, -2.0])), "costs must be"),
        (lambda n, a, b: n.add_unit("u", np.array([1.0, np.nan])), "costs must be"),
        (lambda n, a, b: n.add_unit("u", np.array([np.inf])), "costs must be"),
        (lambda n, a, b: n.add_unit("u", np.ones(2), np.ones(3)), "one time per step"),
        (lambda n, a, b: n.add_unit("u", 1.0, steps=-1), "'u': steps must be an integer >= 0"),
        (lambda n, a, b: n.add_unit("u", 1.0, steps=2.0), "steps must be an integer"),
        (lambda n, a, b: n.add_unit("u", -1.0, steps=2), "'u': a cost per step must be"),
        (lambda n, a, b: n.add_unit("u", np.inf, steps=2), "a cost per step must be"),
        (lambda n, a, b: n.add_unit("u", np.ones(2), steps=2), "a cost per step must be"),
        (lambda n, a, b: n.add_unit("u", 1.0, np.ones(3), steps=2), "one time per step"),
    ],
)
def test_malformed_networks_are_named(build, message):
    net = ChannelNetwork()
    a, b = net.add_unit("a", np.ones(3)), net.add_unit("b", np.ones(3))
    with pytest.raises(ValueError, match=message):
        build(net, a, b)


def test_one_cost_for_every_step_times_as_a_cost_per_step():
    """`add_unit(name, cost, steps=n)` is `add_unit(name, np.full(n, cost))`, releases and
    empty units included; the timeline's flat array holds every unit's starts in order."""
    times = []
    for given_steps in (False, True):
        net = ChannelNetwork()
        costs = (1.0, 3.0, 2.0)
        units = [
            net.add_unit(f"u{k}", c, steps=4)
            if given_steps
            else net.add_unit(f"u{k}", np.full(4, c))
            for k, c in enumerate(costs)
        ]
        empty = net.add_unit("e", 1.0, steps=0) if given_steps else net.add_unit("e", np.ones(0))
        net.set_release(units[2], np.array([0.0, 0.0, 30.0, 0.0]))
        net.add_channel("a", units[0], units[1], depth=1, latency=1.0)
        net.add_channel("b", units[1], units[2], depth=2)
        tl = net.solve()
        np.testing.assert_array_equal(tl.flat, np.concatenate(tl.start))
        assert len(tl.start[empty]) == 0
        times.append(tl.start)
        np.testing.assert_array_equal(tl.end(units[1]), tl.start[units[1]] + 3.0)
    for got, want in zip(times[1], times[0], strict=True):
        np.testing.assert_array_equal(got, want)


def test_empty_network_and_empty_units():
    assert ChannelNetwork().solve().start == []
    net = ChannelNetwork()
    a, b = net.add_unit("a", np.zeros(0)), net.add_unit("b", np.ones(2))
    net.add_channel("none", a, b, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    tl = net.solve()
    np.testing.assert_array_equal(tl.start[b], [0, 1])
    assert tl.occupancy(0) == 0


def test_peak_occupancy_counts_a_token_taken_as_another_enters_as_gone():
    assert peak_occupancy(np.array([0.0, 1.0, 1.0]), np.array([1.0, 1.0, 5.0])) == 1
    assert peak_occupancy(np.zeros(0), np.zeros(0)) == 0


COSTS = [0.0, 1.0, 2.0, 0.5, 1 / 3, 7.0]


@st.composite
def networks(draw, depths=None, costs=COSTS):
    """Random small networks: any units (empty ones too), channels between any two of them
    (self loops and both directions, so cycles and deadlocks), several or no tokens per
    step, random costs, releases, latencies and offsets."""
    net = ChannelNetwork()
    n_units = draw(st.integers(1, 4))
    for u in range(n_units):
        steps = draw(st.integers(0, 6))
        cost = draw(st.lists(st.sampled_from(costs), min_size=steps, max_size=steps))
        release = None
        if draw(st.booleans()):
            release = draw(st.lists(st.sampled_from([0.0, 3.0, 10.0]), min_size=steps,
                                    max_size=steps))  # fmt: skip
        net.add_unit(f"u{u}", np.array(cost), None if release is None else np.array(release))
    sizes = [len(u.cost) for u in net.units]
    for k in range(draw(st.integers(0, 5))):
        p = draw(st.integers(0, n_units - 1))
        c = draw(st.integers(0, n_units - 1))
        n = draw(st.integers(0, 8)) if sizes[p] and sizes[c] else 0
        # None: token m at step m (the solver's array-free case), on one side or both
        plain = draw(st.sampled_from(["neither", "neither", "emit", "take", "both"]))
        if plain == "both" and sizes[p] <= sizes[c]:
            n = sizes[p]
        elif plain != "neither":
            n = min(n, sizes[p] if plain == "emit" else sizes[c])
        emit = sorted(draw(st.lists(st.integers(0, max(sizes[p] - 1, 0)), min_size=n, max_size=n)))
        take = sorted(draw(st.lists(st.integers(0, max(sizes[c] - 1, 0)), min_size=n, max_size=n)))
        emit = None if plain in ("emit", "both") else np.array(emit, dtype=np.int64)
        both = plain == "both" and n == sizes[p]
        take = None if plain == "take" or both else np.array(take, dtype=np.int64)
        latency = draw(st.sampled_from(costs[:3]) | st.just(None))
        if latency is None:
            latency = np.array(draw(st.lists(st.sampled_from(costs), min_size=n, max_size=n)))
        offset = draw(st.sampled_from([0.0, 0.0, 1.0, 2.0]))
        depth = draw(st.integers(0, 4) if depths is None else depths)
        lagged = depth > 0 and draw(st.booleans())
        credit_only = depth > 0 and draw(st.booleans())
        net.add_channel(f"c{k}", p, c, emit, take, depth=depth, latency=latency,
                        offset=offset, lagged=lagged, credit_only=credit_only)  # fmt: skip
    return net


@st.composite
def chains(draw):
    """A chain of units, one token per step, with bounded channels and sometimes a channel
    back from the last unit to the first (a ring: live or deadlocked by its depths)."""
    net = ChannelNetwork()
    n_units, steps = draw(st.integers(2, 5)), draw(st.integers(1, 8))
    for u in range(n_units):
        net.add_unit(f"u{u}", np.array(draw(st.lists(st.sampled_from(COSTS), min_size=steps,
                                                     max_size=steps))))  # fmt: skip
    for u in range(n_units - 1):
        depth, lagged = draw(st.integers(1, 4)), draw(st.booleans())
        latency = draw(st.sampled_from([0.0, 1.0, 3.0]))
        net.add_channel(f"c{u}", u, u + 1, depth=depth, latency=latency, lagged=lagged)
    if draw(st.booleans()):
        lag = draw(st.integers(0, 2))  # the first unit's step s + lag takes token s
        n = steps - lag
        if n > 0:
            net.add_channel("ring", n_units - 1, 0, np.arange(n), np.arange(lag, steps),
                            depth=draw(st.integers(1, 3)))  # fmt: skip
    return net


def check_against_reference(net: ChannelNetwork) -> None:
    try:
        expected = simulate(net)
    except ReferenceDeadlock as stuck:
        with pytest.raises(ChannelDeadlock) as info:
            net.solve()
        names = [u.name for u in net.units]
        for wait in info.value.cycle:  # the cycle's units stopped where the machine did
            assert wait.step == stuck.fired[names.index(wait.unit)]
        return
    tl = net.solve()
    for got, want in zip(tl.start, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    for c, ch in enumerate(net.channels):
        if ch.depth and not ch.lagged:  # a lagged credit may let one more token in
            assert tl.occupancy(c) <= ch.depth


@contextmanager
def event_loop(which: str):
    """Solve with the plain Python loop or the compiled one, whatever the network's size."""
    saved = channels._event_loop
    plain = which == "plain"
    channels._event_loop = lambda size: kernel.run_events if plain else channels._compiled()
    try:
        yield
    finally:
        channels._event_loop = saved


@pytest.mark.parametrize("loop", ["plain", "compiled"])
@settings(max_examples=120)
@given(net=networks())
def test_solver_equals_the_reference_machine(loop, net):
    with event_loop(loop):
        check_against_reference(net)


@pytest.mark.parametrize("loop", ["plain", "compiled"])
@settings(max_examples=80)
@given(net=chains())
def test_chains_and_rings_equal_the_reference_machine(loop, net):
    with event_loop(loop):
        check_against_reference(net)


def test_a_small_network_never_imports_numba():
    """A task's small networks run the plain loop: the process never pays numba's start-up
    (~1 s of CPU); a large one runs compiled."""
    code = (
        "import sys, numpy as np\n"
        "from interpreter.core.channels import ChannelNetwork\n"
        "net = ChannelNetwork()\n"
        "a, b = net.add_unit('a', np.ones(50)), net.add_unit('b', np.ones(50))\n"
        "net.add_channel('ab', a, b, depth=2, lagged=True)\n"
        "assert net.solve().start[1][-1] == 49\n"
        "assert 'numba' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_a_large_network_runs_compiled_with_the_same_times():
    n = jit.COMPILE_FROM // 2
    net = ChannelNetwork()
    a, b = net.add_unit("a", np.ones(n)), net.add_unit("b", np.full(n, 2.0))
    net.add_channel("ab", a, b, depth=3, latency=1.0, offset=2.0, lagged=True)
    size = net.resumable().flat.size
    assert size * channels.RESUMED_WEIGHT >= kernel.RUN_EVENTS.compile_from
    assert channels._event_loop(size * channels.RESUMED_WEIGHT) is channels._compiled()
    with event_loop("compiled"):
        times = net.solve().start
    with event_loop("plain"):
        plain = net.solve().start
    for got, want in zip(times, plain, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(times[1], 1 + 2 * np.arange(n))  # the slower unit's pace


def test_a_solve_resumed_per_release_round_compiles_from_a_tenth_of_the_size(monkeypatch):
    """One solve runs the plain loop up to 200K steps + tokens; a solve with held steps
    (run once per release round) counts ten times its size."""
    sizes = []
    monkeypatch.setattr(
        kernel.RUN_EVENTS, "pick", lambda size: sizes.append(size) or kernel.run_events
    )
    net = ChannelNetwork()
    a, b = net.add_unit("a", np.ones(5)), net.add_unit("b", np.ones(5))
    net.add_channel("ab", a, b, depth=1)
    net.solve()
    run = net.resumable()
    run.hold(b, np.array([2]))
    run.run()
    run.release_steps(run.step_off[b] + np.array([2]), np.array([9.0]))
    run.run()
    assert sizes == [15, 150, 150]
    assert run.timeline().start[b].tolist() == [0, 1, 9, 10, 11]
    assert kernel.RUN_EVENTS.compile_from == 200_000


@settings(max_examples=50)
@given(net=networks(depths=st.just(0), costs=COSTS[1:]))
def test_occupancy_is_the_least_depth_giving_the_same_times(net):
    """Unbounded times, then every channel bounded at its occupancy: the same times; one
    channel one slot tighter: some time changes (the old schedule breaks its bound). Costs
    and latencies > 0: with zero-time paths, a token may leave at the very instant a later
    one enters, yet only after it (the bound is causal, not just a time)."""
    try:
        free = net.solve()
    except ChannelDeadlock:
        return
    needs = [max(free.occupancy(c), 1) for c in range(len(net.channels))]
    same = with_depths(net, needs).solve()
    for a, b in zip(free.start, same.start, strict=True):
        np.testing.assert_array_equal(a, b)
    for c, need in enumerate(needs):
        if need > 1:
            tighter = with_depths(net, needs[:c] + [need - 1] + needs[c + 1 :])
            try:
                times = tighter.solve().start
            except ChannelDeadlock:
                continue
            assert any(not np.array_equal(a, b) for a, b in zip(free.start, times, strict=True))


def with_depths(net: ChannelNetwork, depths: list[int]) -> ChannelNetwork:
    """The same units and channels, each channel with the given depth."""
    copy = ChannelNetwork()
    for u in net.units:
        copy.add_unit(u.name, u.cost, u.release)
    for ch, depth in zip(net.channels, depths, strict=True):
        copy.add_channel(ch.name, ch.producer, ch.consumer, ch.emit, ch.take, depth=depth,
                         latency=ch.latency, offset=ch.offset)  # fmt: skip
    return copy


def test_new_releases_are_seen_by_the_next_solve():
    """The outer loop of a shared resource (STeP's HBM) re-solves with new releases only."""
    net, _ = pipeline(1)
    net.solve()
    net.set_release(1, np.array([0.0, 0.0, 20.0, 0.0]))
    tl = net.solve()
    np.testing.assert_array_equal(tl.start[1], [1, 4, 20, 23])
    np.testing.assert_array_equal(tl.start[0], [0, 1, 4, 20])
    net.set_release(1, None)
    np.testing.assert_array_equal(net.solve().start[1], [1, 4, 7, 10])
    with pytest.raises(ValueError, match="'consumer': release needs one time per step"):
        net.set_release(1, np.zeros(3))


@settings(max_examples=60)
@given(net=networks(), data=st.data())
def test_a_resumed_solve_equals_one_solve(net, data):
    """Hold a step, fire what can fire, release it to its own bound, finish: the same
    times as one solve (what a run learned, lagged credits included, carries over)."""
    try:
        expected = net.solve().start
    except ChannelDeadlock:
        return
    sizes = [len(u.cost) for u in net.units]
    held = [u for u, n in enumerate(sizes) if n]
    if not held:
        return
    u = data.draw(st.sampled_from(held))
    s = data.draw(st.integers(0, sizes[u] - 1))
    run = net.resumable()
    bound = run.release[run.step_off[u] + s]
    run.hold(u, np.array([s]))
    run.run()
    run.release_steps(np.array([run.step_off[u] + s]), np.array([bound]))
    run.run()
    for got, want in zip(run.timeline().start, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_loop_reads_a_single_writable_array_in_place_and_copies_a_read_only_one():
    """One unit with varying costs (equal at both ends, so the uniform check reads them all)
    and one channel with explicit steps: the flat arrays are those very arrays, not copies
    (a DAE solve spares copying millions of entries), unless read-only (numba would compile
    the loop again for that type); the times are the same either way."""

    def build(writable: bool) -> ChannelNetwork:
        cost, take = np.array([2.0, 5.0, 2.0]), np.array([0, 2, 2])
        cost.flags.writeable = take.flags.writeable = writable
        net = ChannelNetwork()
        p = net.add_unit("producer", cost)
        c = net.add_unit("consumer", 1.0, steps=3)
        net.add_channel("pc", p, c, None, take)
        return net

    net, frozen = build(True), build(False)
    flat, copied = channels._Flat(net), channels._Flat(frozen)
    assert flat.cost is net.units[0].cost and flat.take is net.channels[0].take
    assert copied.cost.flags.writeable and copied.take.flags.writeable
    want = [[0.0, 2.0, 7.0], [0.0, 1.0, 7.0]]  # C2 waits for token 2 (P2 = 2 + 5)
    for timeline in (net.solve(), frozen.solve()):
        np.testing.assert_array_equal(np.concatenate(timeline.start), np.concatenate(want))
