"""The program pays for its own verification only. `agent eval` in a warm server starts
timing the baseline in the middle of the program's checks (`check_ir`'s `after_timed`:
it waits for the baseline's sandbox build, then forks the child that times it). That wait
ran on the program's time budget: a baseline build slow under load made an honest program
`timeout` ("comparing took longer than ..."), where before the baseline was built outside
the budget. The budget's clock now stops while the hook runs, and only then."""

from __future__ import annotations

import threading
import time

import pytest

from benchmarks.task import load_task
from interpreter.verify import trusted
from interpreter.verify.limits import Deadline, time_limit
from sandbox import build_ir

BUDGET_S = 1.5
SLOW_HOOK_S = 2.0  # longer than the whole budget


@pytest.fixture(scope="module")
def gemm():
    task = load_task("step/gemm")
    built = build_ir(task.baseline_source(), dialect=task.dialect, signature=task.signature())
    assert built.ok, built.message
    return task, built.ir


@pytest.mark.parametrize("aside", [False, True])
def test_a_slow_baseline_start_is_not_the_programs_timeout(gemm, aside):
    """Its checks take a fraction of the budget; the hook alone takes more than all of it.
    Before: `timeout` sequentially and aside. Now the verdict is the one without the hook."""
    task, ir = gemm
    calls = []

    def slow_baseline_start() -> None:
        calls.append(1)
        time.sleep(SLOW_HOOK_S)

    kwargs = dict(seed=3, timing_seed=4, time_budget_s=BUDGET_S, simulate_aside=aside)
    alone = trusted.check_ir(task, ir, **kwargs)
    hooked = trusted.check_ir(task, ir, after_timed=slow_baseline_start, **kwargs)
    assert calls == [1]
    assert alone.status == hooked.status == "passed", hooked.feedback
    assert hooked.cycles == alone.cycles
    # The seconds it reports as checking are the program's too: without the hook's 2 s.
    assert hooked.seconds["check"] < BUDGET_S < SLOW_HOOK_S


def _paused_then_spent(seconds: float) -> list[str]:
    """Under a `seconds` budget: a pause longer than it, then twice the budget of work.
    What happened, in order."""
    events = []
    try:
        with time_limit(seconds) as budget:
            with budget.paused():
                time.sleep(seconds * 1.5)
            events.append("paused: no deadline")
            for _ in range(20):
                time.sleep(seconds / 10)
            events.append("no deadline at all")
    except Deadline:
        events.append("deadline")
    return events


def test_a_pause_keeps_the_rest_of_the_budget_on_the_main_thread():
    """SIGALRM's timer stops during the pause and then runs out as it would have."""
    assert _paused_then_spent(0.3) == ["paused: no deadline", "deadline"]


def test_a_pause_keeps_the_rest_of_the_budget_on_another_thread():
    """The timer thread (an `agent eval` run from a thread) stops and restarts alike."""
    events: list[list[str]] = []
    worker = threading.Thread(target=lambda: events.append(_paused_then_spent(0.3)))
    worker.start()
    worker.join(10)
    assert events == [["paused: no deadline", "deadline"]]
