"""`agent eval` times the baseline in a forked child while it verifies the program
(`interpreter.verifier.BackgroundBaseline`): the same cycles as timing it in-process, and a
baseline that fails or hangs only loses the speedup."""

from __future__ import annotations

import json
import os
import time

import pytest
from typer.testing import CliRunner

from agents.cli import app
from benchmarks.task import load_task
from interpreter import verifier
from interpreter.verifier import BackgroundBaseline, baseline_cycles


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow  # two timed runs of a DAE baseline
def test_the_child_times_the_baseline_as_the_process_itself_does() -> None:
    task = load_task("dae/moe_gather_mixtral")
    timing = BackgroundBaseline(task, timing_seed=1234, sandbox_backend=None)
    assert timing.cycles(timeout_s=120) == baseline_cycles(task, timing_seed=1234)


def test_a_failing_baseline_gives_no_cycles(monkeypatch) -> None:
    def fails(*args, **kwargs):
        raise RuntimeError("a broken baseline")

    monkeypatch.setattr(verifier, "baseline_cycles", fails)  # the child inherits it
    timing = BackgroundBaseline(load_task("dae/mp_max"), timing_seed=1, sandbox_backend=None)
    assert timing.cycles(timeout_s=60) is None
    monkeypatch.setattr(verifier, "baseline_cycles", lambda *args, **kwargs: None)
    timing = BackgroundBaseline(load_task("dae/mp_max"), timing_seed=1, sandbox_backend=None)
    assert timing.cycles(timeout_s=60) is None


def test_a_baseline_past_the_timeout_is_killed(monkeypatch) -> None:
    monkeypatch.setattr(verifier, "baseline_cycles", lambda *args, **kwargs: time.sleep(60))
    timing = BackgroundBaseline(load_task("dae/mp_max"), timing_seed=1, sandbox_backend=None)
    pid = timing._pid
    started = time.monotonic()
    assert timing.cycles(timeout_s=0.3) is None
    assert time.monotonic() - started < 5 and _gone(pid)  # killed and reaped
    timing.cancel()  # a second stop is harmless


@pytest.mark.slow  # a whole evaluation in this process
def test_the_verdict_does_not_wait_on_or_depend_on_the_baseline(monkeypatch, tmp_path) -> None:
    """A baseline that fails leaves the program's verdict passed, with no speedup."""

    def fails(*args, **kwargs):
        raise RuntimeError("a broken baseline")

    monkeypatch.setattr(verifier, "baseline_cycles", fails)
    program = tmp_path / "moe_gather.py"
    program.write_text(load_task("dae/moe_gather_mixtral").baseline_source())
    result = CliRunner().invoke(
        app, ["eval", "dae/moe_gather_mixtral", str(program), "--json", "--no-server"]
    )
    data = json.loads(result.stdout.splitlines()[-1])
    assert result.exit_code == 0 and data["status"] == "passed", data["feedback"]
    assert data["baseline_cycles"] is None and data["speedup"] is None
