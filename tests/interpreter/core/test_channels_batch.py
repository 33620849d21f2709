"""`add_units` and `add_channels` are `add_unit` and `add_channel` called in turn.

Random units and channels, well-formed or not (steps out of range or decreasing, lengths
that differ, bad depths, NaN, infinite or negative latencies and costs, units that do not
exist): the batch makes the same units and channels as the calls one by one, or raises the
same error after adding the same ones, and the network times the same.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from interpreter.core.channels import ChannelDeadlock, ChannelNetwork

VALUES = [0.0, 1.0, 2.5, 7.0]
BAD = [-1.0, math.nan, math.inf]


def rarely(draw) -> bool:
    """True one time in ten: each fault is rare, so that most batches have one or none."""
    return draw(st.integers(0, 9)) == 0


@st.composite
def costs(draw, size: int | None = None):
    n = draw(st.integers(0, 5)) if size is None else size
    values = draw(st.lists(st.sampled_from(VALUES), min_size=n, max_size=n))
    if n and rarely(draw):
        values[draw(st.integers(0, n - 1))] = draw(st.sampled_from(BAD))
    return np.array(values)


@st.composite
def steps(draw, size: int, n: int):
    """`n` steps of a unit of `size` steps: in order and in range, or rarely not."""
    values = sorted(draw(st.lists(st.integers(0, max(size - 1, 0)), min_size=n, max_size=n)))
    if n and rarely(draw):
        values[draw(st.integers(0, n - 1))] = draw(st.sampled_from([-1, size, 0, size - 1]))
    return np.array(values, dtype=np.int64)


@st.composite
def channel(draw, sizes: list[int]):
    units = len(sizes)
    p = units if rarely(draw) else draw(st.integers(0, units - 1))
    c = draw(st.sampled_from([-1, units])) if rarely(draw) else draw(st.integers(0, units - 1))
    size_p = sizes[p] if p < units else 0
    size_c = sizes[c] if 0 <= c < units else 0
    kind = draw(st.sampled_from(["both", "both", "neither", "emit", "take"]))
    n = draw(st.integers(0, 6))
    if kind == "neither" or (kind == "emit" and not rarely(draw)):
        n = min(n, size_p, size_c)  # (one token per step of a side without steps)
    elif kind == "take" and not rarely(draw):
        n = min(n, size_p)
    emit = draw(steps(size_p, n)) if kind in ("both", "emit") else None
    longer = 1 if kind == "both" and rarely(draw) else 0
    take = draw(steps(size_c, n + longer)) if kind in ("both", "take") else None
    tokens = n if emit is not None else len(take) if take is not None else size_p
    depth = draw(st.sampled_from([0, 1, 3, 8, np.int64(2), True]))
    if rarely(draw):
        depth = draw(st.sampled_from([-1, 2**62, 1.5]))
    if draw(st.booleans()):
        latency = draw(st.sampled_from([*VALUES, 3]))
        if rarely(draw):
            latency = draw(st.sampled_from(BAD))
    else:
        latency = draw(costs(tokens + (1 if rarely(draw) else 0)))
        if rarely(draw):
            latency = np.array(draw(st.sampled_from(VALUES + BAD)))  # a 0-d array
    return (f"c{p}-{c}", p, c, emit, take, depth, latency)


@st.composite
def batches(draw):
    unit_costs = draw(st.lists(costs(), min_size=1, max_size=4))
    sizes = [len(c) for c in unit_costs]
    chans = draw(st.lists(channel(sizes), min_size=0, max_size=6))
    return unit_costs, chans


def _one_by_one(unit_costs, chans) -> tuple[ChannelNetwork, str | None]:
    net = ChannelNetwork()
    try:
        for i, cost in enumerate(unit_costs):
            net.add_unit(f"u{i}", cost)
        for name, p, c, emit, take, depth, latency in chans:
            net.add_channel(name, p, c, emit, take, depth=depth, latency=latency)
    except ValueError as exc:
        return net, str(exc)
    return net, None


def _batched(unit_costs, chans) -> tuple[ChannelNetwork, str | None]:
    net = ChannelNetwork()
    try:
        net.add_units([f"u{i}" for i in range(len(unit_costs))], unit_costs)
        columns = [list(column) for column in zip(*chans, strict=True)] or [[]] * 7
        net.add_channels(*columns)
    except ValueError as exc:
        return net, str(exc)
    return net, None


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return np.array_equal(a, b) and np.shape(a) == np.shape(b)


def _two_units(*channel: object) -> tuple:
    return [np.ones(5), np.ones(4)], [("ok", 0, 1, None, np.arange(4), 1, 1.0), channel]


@settings(max_examples=500, deadline=None)
@given(case=batches())
@example(case=_two_units("free take side", 0, 1, np.arange(5), None, 0, 0.0))
@example(case=_two_units("free sides", 0, 1, None, None, 2, 0.0))
@example(case=_two_units("short take", 0, 1, np.arange(3), np.arange(4), 0, 0.0))
@example(case=_two_units("back", 0, 1, np.array([1, 0]), np.array([0, 1]), 0, 0.0))
@example(case=_two_units("nan", 0, 1, None, np.arange(4), 0, np.array([0, 1, np.nan, 0])))
@example(case=_two_units("depth", 1, 0, None, None, -1, 0.0))
def test_a_batch_adds_what_one_by_one_adds_or_fails_alike(case) -> None:
    (one, error), (batch, batch_error) = _one_by_one(*case), _batched(*case)
    assert batch_error == error
    assert [(u.name, u.release) for u in batch.units] == [(u.name, u.release) for u in one.units]
    for u, v in zip(batch.units, one.units, strict=True):
        assert _same(u.cost, v.cost) and u.cost.dtype == v.cost.dtype
    assert len(batch.channels) == len(one.channels)
    for got, want in zip(batch.channels, one.channels, strict=True):
        fields = ("name", "producer", "consumer", "n", "depth", "lagged", "credit_only")
        assert [getattr(got, f) for f in fields] == [getattr(want, f) for f in fields]
        assert type(got.n) is int and type(got.depth) is int
        for f in ("emit", "take", "latency", "offset"):
            assert _same(getattr(got, f), getattr(want, f)), f
    if error is None:
        try:
            want = one.solve().start
        except ChannelDeadlock:
            with pytest.raises(ChannelDeadlock):
                batch.solve()
            return
        for s, t in zip(batch.solve().start, want, strict=True):
            np.testing.assert_array_equal(s, t)


def test_a_batch_keeps_its_own_copy_of_latencies() -> None:
    """As `add_channel`: the caller may reuse its latency array after the call."""
    net = ChannelNetwork()
    a, b = net.add_units(["a", "b"], [np.ones(3), np.ones(3)])
    latency = np.array([1.0, 2.0, 3.0])
    ids = net.add_channels(["ab", "ba"], [a, b], [b, a], [None, None], [None, None],
                           [1, 0], [latency, 0.0])  # fmt: skip
    latency[:] = 9.0
    assert list(ids) == [0, 1]
    np.testing.assert_array_equal(net.channels[0].latency, [1.0, 2.0, 3.0])
    assert net.channels[1].latency.ndim == 0 and float(net.channels[1].latency) == 0.0
