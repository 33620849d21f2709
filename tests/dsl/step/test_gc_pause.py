"""`paused_gc`: STeP's trace, load, execute and simulate run without the cyclic collector
and leave it as they found it, also when they raise."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from dsl import step
from dsl.errors import ValidationError
from dsl.step.gc_pause import paused_gc
from interpreter.step import BACKEND, sim
from tests.dsl.step.helpers import signature


@pytest.fixture(autouse=True)
def _collector_on():
    """Every test starts with the collector on and leaves it on."""
    was = gc.isenabled()
    gc.enable()
    yield
    assert gc.isenabled()
    if not was:
        gc.disable()


TRACED: list[bool] = []


def _copy(x):
    TRACED.append(gc.isenabled())  # the kernel runs inside `trace`
    return step.linear_offchip_store(step.linear_offchip_load(x, (1, 4)), "y")


SIG = signature({"x": ("float32", [2, 8])}, {"y": ("float32", [2, 8])}, {}, {})


def test_off_inside_on_after_even_on_error():
    with paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), paused_gc():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_nested_and_already_off_are_left_alone():
    with paused_gc():
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause must not switch it back on early
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # a caller running without it keeps running without it
    finally:
        gc.enable()


def test_backend_entry_points_pause_it(monkeypatch):
    seen = []
    real = sim.run_timed

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(sim, "run_timed", spy)
    program = BACKEND.load(step.trace(_copy, SIG))
    x = np.arange(16, dtype=np.float32).reshape(2, 8)
    report = BACKEND.simulate(program, {"x": x}, {}, {})
    assert TRACED[-1] is False and report.cycles > 0 and seen == [False]
    out = {"y": np.zeros((2, 8), np.float32)}
    BACKEND.execute(program, {"x": x}, out, {})
    assert np.array_equal(out["y"], x)


def test_a_failing_load_switches_it_back_on():
    with pytest.raises(ValidationError):
        BACKEND.load({"nodes": []})
