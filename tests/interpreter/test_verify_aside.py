"""`check_ir(simulate_aside=True)`: the timed input is checked first and simulated in a forked
child while the other checks run. Every verdict must be the sequential one (status, feedback,
seed, dims, runs, cycles and report), the child's report used only once every check passed,
and no child may outlive the call."""

from __future__ import annotations

import itertools
import os
import time

import numpy as np
import pytest

from benchmarks.task import load_task
from interpreter import verifier
from interpreter.errors import BudgetError, ExecutionError, SimulationError
from interpreter.verify import trusted
from sandbox import build_ir

TIMING_SEED = 4242


@pytest.fixture(scope="module")
def gemm():
    return load_task("step/gemm")


def _built(task):
    built = build_ir(task.baseline_source(), dialect=task.dialect, signature=task.signature())
    assert built.ok, built.message
    return built.ir


@pytest.fixture(scope="module")
def gemm_ir(gemm):
    return _built(gemm)


@pytest.fixture
def children(monkeypatch):
    """The pids of the simulating children forked during a test (all must be gone)."""
    pids: list[int] = []

    class Recorded(trusted.Forked):
        def __init__(self, function):
            super().__init__(function)
            pids.append(self.pid)

    monkeypatch.setattr(trusted, "Forked", Recorded)
    yield pids
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # killed and reaped: no such process


def _both(task, ir, monkeypatch, **kwargs) -> tuple[dict, dict]:
    """The verdict (as JSON, without its timings) sequentially and aside, on the same seeds."""
    verdicts = []
    for aside in (False, True):
        seeds = itertools.count(1000)
        monkeypatch.setattr(trusted.secrets, "randbits", lambda bits, s=seeds: next(s))
        verdict = trusted.check_ir(
            task, ir, timing_seed=TIMING_SEED, simulate_aside=aside, **kwargs
        )
        data = verdict.to_json()
        data.pop("seconds")
        verdicts.append(data)
    return verdicts[0], verdicts[1]


@pytest.mark.parametrize("key", ["step/gemm", "sam/spmv", "dae/mp_max"])
def test_the_report_is_the_sequential_one(key, monkeypatch, children):
    task = load_task(key)
    sequential, aside = _both(task, _built(task), monkeypatch)
    assert sequential["status"] == "passed" and sequential["cycles"], sequential["feedback"]
    assert aside == sequential
    assert len(children) == 1


def _wrong(gemm, monkeypatch, on: str, fault: Exception | None = None) -> None:
    """Make the STeP backend's outputs wrong (or raise `fault`) on the timed input, on every
    other input, or on all of them."""
    backend = verifier.load_backend("step")
    real = backend.execute
    timed = gemm.make_inputs(gemm.full_dims(gemm.checks[0]), TIMING_SEED)

    def execute(program, inputs, outputs, dims, target=None):
        checked = real(program, inputs, outputs, dims, target=target)
        is_timed = all(np.array_equal(inputs[k], timed[k]) for k in timed)
        if on == "all" or (on == "timed") == is_timed:
            if fault is not None:
                raise fault
            outputs["c"][0, 0] += 1.0
        return checked

    monkeypatch.setattr(backend, "execute", execute)


@pytest.mark.parametrize("on", ["timed", "others", "all"])
@pytest.mark.parametrize("fault", [None, ExecutionError("deadlock in op 3"), KeyError("x")])
def test_a_failing_check_gives_the_sequential_verdict(
    gemm, gemm_ir, monkeypatch, children, on, fault
):
    """The timed check fails alone (reported in its turn, after the others passed), the
    others fail after the timed one passed (the child is killed), or all fail (the first
    fresh check is reported, not the timed input that ran first)."""
    _wrong(gemm, monkeypatch, on, fault)
    sequential, aside = _both(gemm, gemm_ir, monkeypatch)
    assert sequential["status"] in ("incorrect", "invalid", "error"), sequential
    assert aside == sequential
    assert ("on the timed input" in aside["feedback"]) == (on == "timed")
    assert len(children) == (1 if on == "others" else 0)


@pytest.mark.parametrize("aside", [False, True])
@pytest.mark.parametrize("on", [None, "timed", "others"])
def test_after_timed_runs_once_the_timed_outputs_are_right(
    gemm, gemm_ir, monkeypatch, children, aside, on
):
    """`after_timed` (where `agent eval` starts timing the baseline) runs right after the
    timed check passes, and only then: first thing aside (the timed input is checked
    first), after the three fresh checks sequentially (where a failing fresh check ends
    the verification before the timed one); the verdict is the one without it."""
    if on is not None:
        _wrong(gemm, monkeypatch, on)
    backend = verifier.load_backend("step")
    real, runs, calls = backend.execute, [], []

    def counted(*args, **kwargs):
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(backend, "execute", counted)
    verdicts = []
    for hook in (None, lambda: calls.append(len(runs))):
        runs.clear()
        seeds = itertools.count(1000)
        monkeypatch.setattr(trusted.secrets, "randbits", lambda bits, s=seeds: next(s))
        verdict = trusted.check_ir(
            gemm, gemm_ir, timing_seed=TIMING_SEED, simulate_aside=aside, after_timed=hook
        ).to_json()
        verdict.pop("seconds")
        verdicts.append(verdict)
    assert verdicts[1] == verdicts[0]
    assert (verdicts[0]["status"] == "passed") == (on is None)
    expected = {None: [1 if aside else 4], "timed": [], "others": [1] if aside else []}
    assert calls == expected[on]


def test_after_timed_runs_before_the_simulating_child_is_forked(
    gemm, gemm_ir, monkeypatch, children
):
    """A sandbox build in `after_timed` (the baseline's, in `agent eval`) takes the spare
    sandbox the program's build left behind. A child forked before it would hold that
    spare's stdin open, and the build would wait for the child's end (until the build's
    time limit when the child blocks on a full answer pipe: moe_layer_qwen's report)."""
    source, signature = gemm.baseline_source(), gemm.signature()
    assert build_ir(source, dialect="step", signature=signature).ok  # leaves a spare
    backend = verifier.load_backend("step")
    real = backend.simulate

    def slow(*args, **kwargs):
        time.sleep(3)
        return real(*args, **kwargs)

    monkeypatch.setattr(backend, "simulate", slow)
    builds = []

    def hook() -> None:
        started = time.monotonic()
        built = build_ir(source, dialect="step", signature=signature, last=True)
        builds.append((built.ok, time.monotonic() - started))

    verdict = trusted.check_ir(gemm, gemm_ir, simulate_aside=True, after_timed=hook)
    assert verdict.status == "passed" and len(children) == 1
    assert builds[0][0] and builds[0][1] < 2.0, builds


def test_a_timed_failure_comes_after_an_earlier_failure_of_a_replay(gemm, gemm_ir, monkeypatch):
    """Replaying a seed puts the timed input among the checks, not last: a check before it
    fails first, as in the sequential order."""
    _wrong(gemm, monkeypatch, "all")
    verdicts = [
        trusted.check_ir(gemm, gemm_ir, seed=TIMING_SEED, simulate_aside=aside).to_json()
        for aside in (False, True)
    ]
    for verdict in verdicts:
        verdict.pop("seconds")
    assert verdicts[0]["status"] == "incorrect" and verdicts[1] == verdicts[0]


def test_nondeterminism_is_rejected_aside(gemm, gemm_ir, monkeypatch, children):
    backend = verifier.load_backend("step")
    real = backend.execute
    calls = []

    def flaky(program, inputs, outputs, dims, target=None):
        checked = real(program, inputs, outputs, dims, target=target)
        calls.append(1)
        if len(calls) % 5 == 0:  # 4 checks, then the determinism re-run
            outputs["c"].flat[0] += 1.0
        return checked

    monkeypatch.setattr(backend, "execute", flaky)
    sequential, aside = _both(gemm, gemm_ir, monkeypatch)
    assert sequential["status"] == "rejected" and aside == sequential


@pytest.mark.parametrize(
    "fault",
    [
        SimulationError("queue never drained"),
        BudgetError("onchip_bytes", 2**40, 2**29, "step_default"),  # does not pickle
        MemoryError(),
        KeyError("simulator bug"),
    ],
)
def test_a_fault_of_the_simulation_is_the_same_verdict(gemm, gemm_ir, monkeypatch, children, fault):
    def simulate(*args, **kwargs):
        raise fault

    monkeypatch.setattr(verifier.load_backend("step"), "simulate", simulate)
    sequential, aside = _both(gemm, gemm_ir, monkeypatch)
    assert sequential["status"] in ("invalid", "error") and aside == sequential
    assert "on the timed input" in aside["feedback"] and aside["seed"] is None
    assert len(children) == 1


def _spin(*args, **kwargs):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # Python bytecode, as the simulators run
        pass


def test_a_simulation_past_the_budget_is_a_timeout(gemm, gemm_ir, monkeypatch, children):
    monkeypatch.setattr(verifier.load_backend("step"), "simulate", _spin)
    started = time.monotonic()
    verdict = trusted.check_ir(gemm, gemm_ir, time_budget_s=1.0, simulate_aside=True)
    assert time.monotonic() - started < 10
    assert verdict.status == "timeout" and "simulating took longer" in verdict.feedback


def test_a_child_that_dies_is_the_checkers_error(gemm, gemm_ir, monkeypatch, children):
    monkeypatch.setattr(verifier.load_backend("step"), "simulate", lambda *a, **k: os._exit(3))
    verdict = trusted.check_ir(gemm, gemm_ir, simulate_aside=True)
    assert verdict.status == "error" and "while simulating" in verdict.feedback
    assert verdict.cycles is None


def test_a_check_past_the_budget_kills_the_child(gemm, gemm_ir, monkeypatch, children):
    """The timed check passes and forks; a later check runs out of time."""
    backend = verifier.load_backend("step")
    real = backend.execute
    calls = []

    def slow_after_first(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs) if len(calls) == 1 else _spin()

    monkeypatch.setattr(backend, "execute", slow_after_first)
    monkeypatch.setattr(backend, "simulate", _spin)
    verdict = trusted.check_ir(gemm, gemm_ir, time_budget_s=1.0, simulate_aside=True)
    assert verdict.status == "timeout" and len(children) == 1


def test_nothing_forks_unless_asked(gemm, gemm_ir, monkeypatch):
    def no_fork(function):
        raise AssertionError("forked without simulate_aside")

    monkeypatch.setattr(trusted, "Forked", no_fork)
    assert trusted.check_ir(gemm, gemm_ir).status == "passed"
    # nor for a single run (the baseline's timing), nor without a simulation
    assert trusted.check_ir(gemm, gemm_ir, timed_only=True, simulate_aside=True).correct
    assert trusted.check_ir(gemm, gemm_ir, simulate=False, simulate_aside=True).correct
