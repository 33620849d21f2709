"""`agent eval` in a warm eval server times the baseline in a forked child while it
verifies the program (`interpreter.verifier.BackgroundBaseline`): the same cycles as
timing it in-process, and a baseline that fails or hangs only loses the speedup. A cold
process times it after the program, as before (a child would load everything again), and
simulates in-process."""

from __future__ import annotations

import json
import os
import time

import pytest
from typer.testing import CliRunner

from agents import eval_server
from agents.cli import app
from benchmarks.task import load_task
from interpreter import verifier
from interpreter.verifier import BackgroundBaseline, baseline_cycles
from interpreter.verify import trusted
from tests.sandbox.conftest import gone


def _started(key: str) -> BackgroundBaseline:
    timing = BackgroundBaseline(load_task(key), timing_seed=1234, sandbox_backend=None)
    timing.start()
    return timing


@pytest.mark.slow  # two timed runs of a DAE baseline
def test_the_child_times_the_baseline_as_the_process_itself_does() -> None:
    timing = _started("dae/moe_gather_mixtral")
    expected = baseline_cycles(load_task("dae/moe_gather_mixtral"), timing_seed=1234)
    assert timing.cycles(timeout_s=120) == expected is not None


def test_a_failing_baseline_gives_no_cycles(monkeypatch) -> None:
    def fails(*args, **kwargs):
        raise RuntimeError("a broken checker")

    monkeypatch.setattr(verifier, "check_ir", fails)  # the child inherits it
    assert _started("dae/mp_max").cycles(timeout_s=60) is None
    monkeypatch.setattr(verifier, "_time_baseline", fails)  # even its error handling
    assert _started("dae/mp_max").cycles(timeout_s=60) is None


def test_a_baseline_that_does_not_build_gives_no_cycles(monkeypatch) -> None:
    task = load_task("dae/mp_max")
    monkeypatch.setattr(type(task), "baseline_source", lambda self: "def kernel(:\n")
    timing = BackgroundBaseline(task, timing_seed=1, sandbox_backend=None)
    timing.start()
    assert timing._child is None and timing.cycles(timeout_s=1) is None


@pytest.mark.parametrize("fault", ["sandbox", "fork"])
def test_a_baseline_whose_timing_cannot_start_gives_no_cycles(monkeypatch, fault) -> None:
    """`start` runs in the middle of the program's checks: a sandbox backend that fails, or
    a fork refused (no process to spare), costs the speedup, never the verdict."""
    from sandbox import runner
    from sandbox.backends import SandboxConfigError

    def backend_fails(*args, **kwargs):
        raise SandboxConfigError("sandbox backend 'bubblewrap' failed: gone")

    def fork_refused(*args, **kwargs):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    if fault == "sandbox":
        monkeypatch.setattr(runner.PendingBuild, "result", backend_fails)
    else:
        monkeypatch.setattr(verifier, "Forked", fork_refused)
    timing = _started("dae/mp_max")
    assert timing._child is None and timing.cycles(timeout_s=1) is None


def test_a_submitted_baseline_times_as_one_built_in_start() -> None:
    """`submit` sends the build ahead (a warm server's request, before the program's
    build); `start` collects it: the same cycles as the baseline timed in-process."""
    task = load_task("dae/mp_max")
    timing = BackgroundBaseline(task, timing_seed=1234, sandbox_backend=None)
    timing.submit()
    timing.start()
    assert timing.cycles(timeout_s=60) == baseline_cycles(task, timing_seed=1234) is not None
    timing.cancel()


def test_a_submitted_baseline_that_does_not_build_gives_no_cycles(monkeypatch) -> None:
    task = load_task("dae/mp_max")
    monkeypatch.setattr(type(task), "baseline_source", lambda self: "def kernel(:\n")
    timing = BackgroundBaseline(task, timing_seed=1, sandbox_backend=None)
    timing.submit()
    timing.start()
    assert timing._child is None and timing.cycles(timeout_s=1) is None


def test_a_submission_whose_sandbox_fails_gives_no_cycles(monkeypatch) -> None:
    """And `start` does not build it again: the backend failed once already."""
    from sandbox import runner
    from sandbox.backends import SandboxConfigError

    def backend_fails(*args, **kwargs):
        raise SandboxConfigError("sandbox backend 'bubblewrap' failed: gone")

    monkeypatch.setattr(runner, "submit_build", backend_fails)
    monkeypatch.setattr(runner, "build_ir", backend_fails)
    timing = BackgroundBaseline(load_task("dae/mp_max"), timing_seed=1, sandbox_backend=None)
    timing.submit()
    timing.start()
    assert timing._child is None and timing.cycles(timeout_s=1) is None


def test_cancel_stops_an_uncollected_build() -> None:
    """The program failed before its timed input was found correct (`start` never ran):
    the baseline's sandbox is killed and its folder removed."""
    timing = BackgroundBaseline(load_task("dae/mp_max"), timing_seed=1, sandbox_backend=None)
    timing.submit()
    sandbox = timing._build.sandbox
    timing.cancel()
    assert gone(sandbox.process.pid) and not os.path.exists(sandbox.run_dir.name)
    timing.cancel()  # a second stop is harmless


@pytest.mark.parametrize(
    ("program", "status"),
    [
        ("def kernel(:\n", "error"),  # does not build
        # The baseline, which then starts every maximum at 3e38.
        ("-3e+38", "incorrect"),
    ],
)
def test_a_failing_program_leaves_no_baseline_sandbox(
    monkeypatch, tmp_path, program, status
) -> None:
    """In a warm server's request the baseline's build is under way before the program's:
    whatever the program does, nothing of the baseline's outlives the evaluation."""
    submitted: list[BackgroundBaseline] = []
    submit = BackgroundBaseline.submit

    def recorded(self) -> None:
        submit(self)
        submitted.append((self, self._build.sandbox))

    monkeypatch.setattr(BackgroundBaseline, "submit", recorded)
    monkeypatch.setattr(eval_server, "warmed", True)  # as in a warm server's child
    monkeypatch.setattr(eval_server, "core_idle", lambda: True)
    path = tmp_path / "program.py"
    baseline = load_task("dae/mp_max").baseline_source()
    path.write_text(baseline.replace(program, "3e+38") if program in baseline else program)
    result = CliRunner().invoke(app, ["eval", "dae/mp_max", str(path), "--json"])
    data = json.loads(result.stdout.splitlines()[-1])
    assert result.exit_code == 1 and data["status"] == status, data["feedback"]
    [(timing, sandbox)] = submitted
    assert timing._build is None and timing._child is None
    assert gone(sandbox.process.pid) and not os.path.exists(sandbox.run_dir.name)


def test_a_baseline_past_the_timeout_is_killed(monkeypatch) -> None:
    monkeypatch.setattr(verifier, "_time_baseline", lambda *args: time.sleep(60))
    timing = _started("dae/mp_max")
    pid = timing._child.pid
    started = time.monotonic()
    assert timing.cycles(timeout_s=0.3) is None
    assert time.monotonic() - started < 5 and gone(pid)  # killed and reaped
    timing.cancel()  # a second stop is harmless


def _eval_baseline(tmp_path) -> tuple[int, dict]:
    program = tmp_path / "moe_gather.py"
    program.write_text(load_task("dae/moe_gather_mixtral").baseline_source())
    result = CliRunner().invoke(
        app, ["eval", "dae/moe_gather_mixtral", str(program), "--json", "--no-server"]
    )
    return result.exit_code, json.loads(result.stdout.splitlines()[-1])


@pytest.mark.slow  # a whole evaluation in this process
def test_in_a_warm_server_a_failing_baseline_only_drops_the_speedup(monkeypatch, tmp_path):
    def fails(*args, **kwargs):
        raise RuntimeError("a broken baseline")

    monkeypatch.setattr(verifier, "_time_baseline", fails)  # the child inherits it
    monkeypatch.setattr(eval_server, "warmed", True)  # as in a warm server's child
    monkeypatch.setattr(eval_server, "core_idle", lambda: True)
    code, data = _eval_baseline(tmp_path)
    assert code == 0 and data["status"] == "passed", data["feedback"]
    assert data["baseline_cycles"] is None and data["speedup"] is None


@pytest.mark.slow  # a whole evaluation in this process, and the baseline's again
def test_in_a_warm_server_the_baseline_is_timed_alongside(monkeypatch, tmp_path) -> None:
    """Its build is sent to a sandbox before the program's, collected once the timed input
    is checked, and its child forked then, which must not wait on the simulating child:
    the same cycles as the baseline timed in-process on that input (a replayed seed fixes
    it)."""
    monkeypatch.setattr(eval_server, "warmed", True)  # as in a warm server's child
    monkeypatch.setattr(eval_server, "core_idle", lambda: True)
    program = tmp_path / "moe_gather.py"
    program.write_text(load_task("dae/moe_gather_mixtral").baseline_source())
    result = CliRunner().invoke(
        app, ["eval", "dae/moe_gather_mixtral", str(program), "--json", "--seed", "5"]
    )
    data = json.loads(result.stdout.splitlines()[-1])
    assert result.exit_code == 0 and data["status"] == "passed", data["feedback"]
    expected = baseline_cycles(load_task("dae/moe_gather_mixtral"), timing_seed=5)
    assert data["baseline_cycles"] == expected is not None


@pytest.mark.slow  # a whole evaluation in this process, twice
@pytest.mark.parametrize("warmed", [False, True])
def test_a_cold_process_or_busy_cores_time_the_baseline_in_process(
    monkeypatch, tmp_path, warmed
) -> None:
    """A cold process (a child would load everything again), and a warm server's request
    when no core is idle (a child's system time would cost more than it saves)."""

    def no_fork(*args, **kwargs):
        raise AssertionError("forked for the baseline or the simulation")

    monkeypatch.setattr(verifier, "BackgroundBaseline", no_fork)
    monkeypatch.setattr(trusted, "Forked", no_fork)
    monkeypatch.setattr(eval_server, "warmed", warmed)
    monkeypatch.setattr(eval_server, "core_idle", lambda: False)
    monkeypatch.setattr(verifier, "baseline_cycles", lambda *args, **kwargs: 4321)
    code, data = _eval_baseline(tmp_path)
    assert code == 0 and data["baseline_cycles"] == 4321, data["feedback"]


@pytest.mark.slow  # a whole evaluation in this process
def test_in_process_the_baseline_build_leaves_no_spare_sandbox(monkeypatch, tmp_path) -> None:
    """A cold process builds twice: the program's build leaves a spare sandbox, which the
    baseline's build takes; the baseline's, the last, leaves none (one started for nothing
    took a core for ~0.1 s, then was killed at exit)."""
    from sandbox.spares import SPARES

    monkeypatch.setattr(eval_server, "warmed", False)
    SPARES.close()
    started = []
    take = type(SPARES).take

    def recorded(self, backend, limits, dialect, *, last=False):
        started.append(last)
        return take(self, backend, limits, dialect, last=last)

    monkeypatch.setattr(type(SPARES), "take", recorded)
    program = tmp_path / "mp_max.py"
    program.write_text(load_task("dae/mp_max").baseline_source())
    result = CliRunner().invoke(app, ["eval", "dae/mp_max", str(program), "--json"])
    data = json.loads(result.stdout.splitlines()[-1])
    assert result.exit_code == 0 and data["baseline_cycles"] is not None, data["feedback"]
    assert started == [False, True] and SPARES.waiting() == {}
