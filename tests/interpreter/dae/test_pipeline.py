"""The coupling of DAE's access and execute halves: a hand-computed queue stall, the
solved times against the model's own recurrences, and the network against the core
reference machine."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interpreter.core.channels import ChannelDeadlock
from interpreter.dae.pipeline import CORE, Coupling, network, solve
from tests.interpreter.core.reference_sim import ReferenceDeadlock, simulate


def test_full_control_queue_holds_the_access_side_back():
    """Four tokens, one push per cycle, 10 cycles per callback, a control queue of 1:
    token k+1 waits until token k is popped. By hand: pushes 1, 2, 11, 21; starts 1, 11,
    21, 31."""
    cp = Coupling(
        a=np.ones(4),
        owner=np.arange(4),
        is_token=np.ones(4, dtype=bool),
        c=np.full(4, 10.0),
        fill=0.0,
        control_depth=1,
        data_depth=1,
    )
    times = solve(cp)
    np.testing.assert_array_equal(times.push, [1, 2, 11, 21])
    np.testing.assert_array_equal(times.start, [1, 11, 21, 31])
    assert times.finish[-1] == 41


def test_operands_wait_for_the_data_queue_and_the_fill():
    """Two tokens, each after two operands (work 1 each, fill 5), a data queue of 2 and a
    core taking 10 per token. Pushes: 6, 7 (operands), 8 (token 0); token 1's first operand
    needs operand 0 popped (S0 = 8): 9, then 10, 11. S1 = max(F0 = 18, 11) = 18."""
    cp = Coupling(
        a=np.ones(6),
        owner=np.array([0, 0, 0, 1, 1, 1]),
        is_token=np.array([False, False, True] * 2),
        c=np.full(2, 10.0),
        fill=5.0,
        control_depth=4,
        data_depth=2,
    )
    times = solve(cp)
    np.testing.assert_array_equal(times.push, [6, 7, 8, 9, 10, 11])
    np.testing.assert_array_equal(times.start, [8, 18])


def test_entries_without_tokens_only_cost_access_work():
    cp = Coupling(np.full(3, 2.0), np.zeros(3, int), np.zeros(3, bool), np.zeros(0), 1.0, 1, 1)
    np.testing.assert_array_equal(solve(cp).push, [3, 5, 7])


def test_a_token_popping_an_operand_pushed_after_a_full_queue_deadlocks():
    """Token 0 pops operand 1, which is pushed after token 1 behind a control queue of 1:
    token 1 waits for token 0 to be popped, token 0 for its operand."""
    cp = Coupling(
        np.ones(3), np.array([0, 1, 0]), np.array([True, True, False]), np.ones(2), 0.0, 1, 4
    )
    with pytest.raises(ChannelDeadlock, match="'control queue' \\(full at depth 1\\)"):
        solve(cp)


@st.composite
def couplings(draw, data_depth=4):
    """Up to 3 operands per token: a data queue shallower than 3 may deadlock."""
    tokens = draw(st.integers(1, 25))
    entries, owner = [], []
    for k in range(tokens):
        items = [True] + [False] * draw(st.integers(0, 3))
        order = draw(st.permutations(items))
        entries += list(order)
        owner += [k] * len(order)
    n = len(entries)
    a = np.array(draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 7.5, 1 / 3]), min_size=n,
                               max_size=n)))  # fmt: skip
    c = np.array(
        draw(st.lists(st.sampled_from([1.0, 3.0, 12.0]), min_size=tokens, max_size=tokens))
    )
    return Coupling(
        a,
        np.array(owner),
        np.array(entries),
        c,
        draw(st.sampled_from([0.0, 240.0])),
        draw(st.integers(1, 4)),
        draw(st.integers(data_depth, 6)),
    )


@settings(max_examples=80)
@given(cp=couplings())
def test_times_meet_the_recurrences_with_equality(cp):
    """P[e] = max(P[e-1] + a[e], B[e]) and S[k] = max(F[k-1], pushes k pops): each time is
    the least its equation allows, so these are the least times of the model."""
    times = solve(cp)
    prev = cp.fill
    for e in range(len(cp.a)):
        queue = cp.is_token if cp.is_token[e] else ~cp.is_token
        depth = cp.control_depth if cp.is_token[e] else cp.data_depth
        before = np.flatnonzero(queue[:e])
        bound = times.start[cp.owner[before[-depth]]] if len(before) >= depth else -np.inf
        assert times.push[e] == max(prev + cp.a[e], bound)
        prev = times.push[e]
    finish = 0.0
    for k in range(len(cp.c)):
        assert times.start[k] == max(finish, times.push[cp.owner == k].max())
        finish = times.start[k] + cp.c[k]
        assert times.finish[k] == finish


@settings(max_examples=60)
@given(cp=couplings(data_depth=1))
def test_network_equals_the_reference_machine(cp):
    net = network(cp)
    try:
        expected = simulate(net)
    except ReferenceDeadlock:
        with pytest.raises(ChannelDeadlock):
            net.solve()
        return
    got = net.solve()
    for a, b in zip(got.start, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(got.start[CORE]) == len(cp.c)
