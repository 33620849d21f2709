"""The timing-input hack in all three dialects: a program that skips its work on the one
input it recognises is caught when it is timed on that input (the timed input is checked),
and gains nothing otherwise (the timed input is secret, so it is never the one)."""

from __future__ import annotations

import pytest

from benchmarks.task import load_task
from interpreter.verifier import baseline_cycles, check_ir
from sandbox import build_ir
from tests.hacks.timing_programs import OLD_TIMING_SEED, TIMING_TASKS, timing_hack

CHECK_SEED = 11  # fixed fresh-check inputs, so the test draws the same every time
SECRET = 12345  # a timing seed the program was not written for


@pytest.fixture(scope="module", params=TIMING_TASKS)
def hacked(request):
    task = load_task(request.param)
    built = build_ir(timing_hack(task), dialect=task.dialect, signature=task.signature())
    assert built.ok, built.message
    return task, built.ir


def test_the_hack_is_incorrect_on_the_input_it_recognises(hacked):
    task, ir = hacked
    v = check_ir(task, ir, seed=CHECK_SEED, timing_seed=OLD_TIMING_SEED)
    assert v.status == "incorrect", v.feedback
    assert "on the timed input" in v.feedback and v.cycles is None


def test_the_hack_gains_nothing_on_a_secret_input(hacked):
    """Honest everywhere else, it passes, but no faster than the baseline timed on the same
    secret input (it pays for the recognition)."""
    task, ir = hacked
    v = check_ir(task, ir, seed=CHECK_SEED, timing_seed=SECRET)
    assert v.status == "passed", v.feedback
    assert v.cycles >= baseline_cycles(task, timing_seed=SECRET)
