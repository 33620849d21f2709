"""The verifier end to end on a real STeP task: each verdict status, its feedback, the timed
input (checked, secret, shared with the baseline), the floors and the budgets."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from benchmarks.task import Task, load_task
from interpreter import verifier
from interpreter.report import SimReport
from interpreter.verify.floor import task_floor
from interpreter.verify.trusted import plan_runs
from sandbox import build_ir

GOOD = """
from dsl import step

def kernel(a, b, tile_rows=16):
    a_t = step.linear_offchip_load(a, (tile_rows, 128))
    a_t0, a_t1 = step.copy(a_t, 2)
    b_t = step.expand(step.linear_offchip_load(b, (128, 64)), a_t1)
    return step.linear_offchip_store(step.map([a_t0, b_t], "matmul"), "c")
"""


@pytest.fixture(scope="module")
def gemm():
    return load_task("step/gemm")


@pytest.fixture(scope="module")
def good_ir(gemm):
    """GOOD built once through the sandbox; most tests check this IR directly."""
    built = build_ir(GOOD, dialect="step", signature=gemm.signature())
    assert built.ok, built.message
    return built.ir


def test_good_program_passes_with_cycles(gemm):
    v = verifier.verify(gemm, GOOD)
    assert v.status == "passed" and v.correct, v.feedback
    assert v.cycles and v.cycles >= v.floor_cycles > 0
    # fresh runs on every check assignment, the held-out shape, and the timed input
    assert v.runs >= 3 + len(gemm.heldout)
    assert "timed input included" in v.feedback
    data = v.to_json()
    for key in ("task", "status", "correct", "cycles", "feedback", "seed", "dims"):
        assert key in data
    assert data["task"] == "step/gemm" and data["dims"] == {"M": 32, "K": 128, "N": 64}
    assert data["seed"] is None  # a pass does not give the timing seed away


def test_wrong_math_names_index_seed_and_dims(gemm, good_ir):
    wrong = GOOD.replace(
        'step.map([a_t0, b_t], "matmul")', 'step.map([step.map([a_t0, b_t], "matmul")], "exp")'
    )
    v = verifier.verify(gemm, wrong)
    assert v.status == "incorrect", v.feedback
    assert "output 'c' at index [" in v.feedback and "expected" in v.feedback
    # the first fresh check failed: its seed and dims are in the text and the JSON
    assert v.dims == {"M": 32, "K": 128, "N": 64}
    assert f"seed {v.seed}" in v.feedback and "M=32" in v.feedback


def test_stream_used_twice_is_invalid(gemm):
    twice = GOOD.replace("step.map([a_t0, b_t]", "step.map([a_t, b_t]")
    v = verifier.verify(gemm, twice)
    assert v.status == "invalid", v.feedback
    assert "program.py:8" in v.feedback and "consumed" in v.feedback


def test_syntax_error_names_the_line(gemm):
    v = verifier.verify(gemm, GOOD.replace("def kernel(a, b, tile_rows=16):", "def kernel(a, b:"))
    assert v.status == "error" and "program.py:4: SyntaxError" in v.feedback, v.feedback


def test_forbidden_import_is_rejected(gemm):
    v = verifier.verify(gemm, "import numpy as np\n" + GOOD)
    assert v.status == "rejected" and "numpy" in v.feedback


@pytest.mark.parametrize(
    "ir",
    [
        {},
        {"dialect": "step"},
        {"dialect": "step", "version": 1, "nodes": "x"},
        {"dialect": "step", "version": 1, "nodes": [{"op": "rm -rf"}]},
        ["not", "a", "dict"],
        None,
    ],
)
def test_malformed_ir_is_invalid_in_one_line(gemm, ir):
    v = verifier.check_ir(gemm, ir)
    assert v.status == "invalid", (ir, v.feedback)
    assert "\n" not in v.feedback and v.cycles is None


def test_the_timed_input_is_checked(gemm, good_ir, monkeypatch):
    """A program that is wrong only on the input it is timed on is incorrect, and the
    feedback says so without showing any value of that secret input."""
    backend = verifier.load_backend("step")
    real = backend.execute
    timed = gemm.make_inputs(gemm.full_dims(gemm.checks[0]), 4242)

    def wrong_on_timed_input(program, inputs, outputs, dims, target=None):
        real(program, inputs, outputs, dims, target=target)
        if all(np.array_equal(inputs[k], timed[k]) for k in timed if k in inputs):
            outputs["c"][0, 0] += 1.0

    monkeypatch.setattr(backend, "execute", wrong_on_timed_input)
    v = verifier.check_ir(gemm, good_ir, timing_seed=4242)
    assert v.status == "incorrect", v.feedback
    assert "on the timed input" in v.feedback
    assert "expected" not in v.feedback and "index" not in v.feedback
    assert "4242" not in v.feedback and v.seed is None  # the secret never leaves
    assert v.cycles is None


def test_a_failure_while_timing_keeps_the_timing_seed_secret(gemm, good_ir, monkeypatch):
    """Over budget only at simulation (on-chip bytes are counted there): the verdict is
    invalid and carries no seed, since knowing the timed input lets a program embed its
    answer. Before, the verdict's `seed` (which `agent mcp` returns) was the run's secret."""
    from interpreter.errors import BudgetError

    backend = verifier.load_backend("step")

    def over_budget(*args, **kwargs):
        raise BudgetError("onchip_bytes", 2**40, 2**29, "step_default")

    monkeypatch.setattr(backend, "simulate", over_budget)
    v = verifier.check_ir(gemm, good_ir, timing_seed=4242)
    assert v.status == "invalid" and "onchip_bytes" in v.feedback
    assert v.seed is None and "4242" not in v.feedback


def test_timing_seed_fixes_the_cycles_and_the_baseline_shares_them():
    """Correctness uses fresh seeds; timing uses the seed a run holds, so a program's cycles
    do not depend on its luck, and its baseline is timed on the very same input."""
    task = load_task("sam/spmv")
    source = task.baseline_source()
    a = verifier.verify(task, source, timing_seed=77)
    b = verifier.verify(task, source, timing_seed=77)
    c = verifier.verify(task, source, timing_seed=78)
    assert a.correct and b.correct and c.correct, (a.feedback, b.feedback, c.feedback)
    assert a.cycles == b.cycles == verifier.baseline_cycles(task, timing_seed=77)
    assert c.cycles != a.cycles  # another secret input: another nonzero pattern, other cycles


def test_runs_plan_fresh_heldout_then_timed(gemm):
    runs, timed = plan_runs(gemm, seeds=3, seed=None, timing_seed=9)
    assert timed == len(runs) - 1 and runs[timed].timed and runs[timed].seed == 9
    assert runs[timed].dims == gemm.full_dims(gemm.checks[0])
    fresh = [r for r in runs if not r.timed and not r.heldout]
    assert {r.dims["M"] for r in fresh} == {32, 64}
    assert len({r.seed for r in fresh}) == len(fresh)  # fresh and distinct
    assert [r.dims["M"] for r in runs if r.heldout] == [h["M"] for h in gemm.heldout]


def test_a_replay_runs_every_check_on_its_seed(gemm):
    """`--seed 3024` reproduces whichever check of a verdict failed with seed 3024: every
    check and held-out assignment runs on it, and so does the timed input."""
    runs, timed = plan_runs(gemm, seeds=3, seed=3024, timing_seed=None)
    assert {r.seed for r in runs} == {3024}
    assert sorted(r.dims["M"] for r in runs) == sorted([32, 64, *(h["M"] for h in gemm.heldout)])
    assert timed == 0 and not runs[timed].timed  # a replayed timed input is not secret


def test_heldout_failure_names_no_size(gemm, good_ir, monkeypatch):
    backend = verifier.load_backend("step")
    real = backend.execute

    def wrong_on_large(program, inputs, outputs, dims, target=None):
        real(program, inputs, outputs, dims, target=target)
        if dims["M"] > 64:
            outputs["c"][-1, -1] = -1e9

    monkeypatch.setattr(backend, "execute", wrong_on_large)
    v = verifier.check_ir(gemm, good_ir)
    assert v.status == "incorrect" and "a held-out size" in v.feedback, v.feedback
    held = gemm.heldout[0]["M"]
    assert v.dims["M"] == held and f"seed {v.seed}" in v.feedback
    text = v.feedback.replace(f"seed {v.seed}", "")  # a seed's digits may contain the size
    assert str(held) not in text and f"[{held - 1}" not in text


def test_cycles_below_roofline_floor_are_rejected(gemm, good_ir, monkeypatch):
    backend = verifier.load_backend("step")
    real = backend.simulate

    def too_fast(*args, **kwargs):
        report = real(*args, **kwargs)
        return SimReport(cycles=int(report.floor_cycles / 2), floor_cycles=report.floor_cycles)

    monkeypatch.setattr(backend, "simulate", too_fast)
    v = verifier.check_ir(gemm, good_ir)
    assert v.status == "rejected" and "roofline floor" in v.feedback


def test_task_floor_holds_when_the_backend_floor_is_wrong(gemm, good_ir, monkeypatch):
    """Output c is M x 64 float32 = 8192 bytes at M=32; step_default moves 1024 B/cycle
    off chip: no program finishes in under 8 cycles, whatever the backend's floor says.
    Only nonzeros count (a sparse program writes only those): half zeros, half the floor."""
    from interpreter.targets import load_target

    target = load_target(gemm.target)
    c = np.ones((32, 64), dtype=np.float32)
    assert task_floor(gemm, {"c": c}, target) == 8.0
    c[:16] = 0.0
    assert task_floor(gemm, {"c": c}, target) == 4.0
    backend = verifier.load_backend("step")
    monkeypatch.setattr(backend, "simulate", lambda *a, **k: SimReport(cycles=7, floor_cycles=0.0))
    v = verifier.check_ir(gemm, good_ir)
    assert v.status == "rejected" and v.floor_cycles == 8.0, v.feedback
    monkeypatch.setattr(
        backend, "simulate", lambda *a, **k: SimReport(cycles=float("nan"), floor_cycles=0.0)
    )
    assert verifier.check_ir(gemm, good_ir).status == "rejected"


def test_nondeterminism_is_rejected(gemm, good_ir, monkeypatch):
    backend = verifier.load_backend("step")
    real = backend.execute
    calls = []
    runs = len(plan_runs(gemm, seeds=3, seed=None, timing_seed=None)[0])

    def flaky(program, inputs, outputs, dims, target=None):
        real(program, inputs, outputs, dims, target=target)
        calls.append(1)
        if len(calls) > runs:  # the determinism re-run
            for value in outputs.values():
                value.flat[0] += 1.0

    monkeypatch.setattr(backend, "execute", flaky)
    v = verifier.check_ir(gemm, good_ir)
    assert v.status == "rejected" and "nondeterministic" in v.feedback


def test_faults_of_the_setup_raise(gemm, good_ir, monkeypatch):
    """A missing data file is not the program's fault: it stops the caller."""
    from sandbox.backends import SandboxConfigError

    def missing(self, dims, seed):
        raise FileNotFoundError(2, "No such file or directory", "traces/azure.csv")

    monkeypatch.setattr(Task, "make_inputs", missing)
    with pytest.raises(FileNotFoundError):
        verifier.check_ir(gemm, good_ir)
    with pytest.raises(SandboxConfigError):
        verifier.verify(gemm, GOOD, sandbox_backend="no-such-backend")


def test_a_checker_bug_is_an_error_not_the_programs_fault(gemm, good_ir, monkeypatch, caplog):
    def broken(self, inputs, dims):
        raise ValueError("reference bug")

    monkeypatch.setattr(Task, "reference_outputs", broken)
    v = verifier.check_ir(gemm, good_ir)
    assert v.status == "error" and "computing the reference" in v.feedback, v.feedback
    assert "logged" in v.feedback and "reference bug" in caplog.text


@pytest.mark.parametrize(
    ("exc", "status", "words"),
    [
        (MemoryError(), "invalid", "too large"),
        (OverflowError("int too large"), "invalid", "too large"),
        (KeyError("x"), "error", "the checker failed while checking"),
    ],
)
def test_any_exception_in_a_run_is_a_verdict(gemm, good_ir, monkeypatch, exc, status, words):
    def raising(*args, **kwargs):
        raise exc

    monkeypatch.setattr(verifier.load_backend("step"), "execute", raising)
    v = verifier.check_ir(gemm, good_ir)
    assert v.status == status and words in v.feedback, v.feedback
    assert f"seed {v.seed}" in v.feedback


def _slow_execute(*args, **kwargs):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # Python bytecode, as the interpreters run
        pass


@pytest.mark.parametrize("in_thread", [False, True])
def test_time_budget_holds_on_any_thread(gemm, good_ir, monkeypatch, in_thread):
    monkeypatch.setattr(verifier.load_backend("step"), "execute", _slow_execute)
    out = []
    call = lambda: out.append(verifier.check_ir(gemm, good_ir, time_budget_s=0.3))  # noqa: E731
    started = time.monotonic()
    if in_thread:
        worker = threading.Thread(target=call)
        worker.start()
        worker.join(20)
    else:
        call()
    assert time.monotonic() - started < 10
    assert out and out[0].status == "timeout", out


def test_baseline_cycles_are_cached_per_timing_seed(gemm):
    first = verifier.baseline_cycles(gemm, timing_seed=5)
    assert first and verifier.baseline_cycles(gemm, timing_seed=5) == first
    key = next(k for k in verifier._baselines if k[0] == gemm.key and k[3] == 5)
    assert len(key) == 4 and str(gemm.path) not in key


def test_an_error_on_a_heldout_size_does_not_quote_it(gemm, good_ir, monkeypatch):
    from interpreter.errors import ExecutionError

    backend = verifier.load_backend("step")
    real = backend.execute

    def fails_on_large(program, inputs, outputs, dims, target=None):
        if dims["M"] > 64:
            raise ExecutionError(f"store: output 'c' is [{dims['M']}, 64] but got [64, 64]")
        real(program, inputs, outputs, dims, target=target)

    monkeypatch.setattr(backend, "execute", fails_on_large)
    v = verifier.check_ir(gemm, good_ir)
    assert v.status == "invalid" and "a held-out size" in v.feedback, v.feedback
    assert "is [<held-out>, 64] but got [64, 64]" in v.feedback
