"""The DAE simulator's compiled queue loops (`interpreter.dae.queue_kernel`) run once a
process has loaded numba, and its numpy forms until then: a verdict must not depend on
which ran (a warm eval server compiles them, a cold `agent eval` may not). The unit tests
hold each loop to its numpy form on random arrays and one suite baseline; here the hack
programs, whose shapes no baseline has, run through `execute` and `simulate` (the checked
run reused, and not) under the target's queues and under queues small enough to deadlock:
the same outputs, the same report, or the same error, whichever form runs."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from benchmarks.task import load_task
from interpreter.dae import BACKEND
from interpreter.dae.queue_kernel import (
    FILL,
    FLAT,
    GROUP,
    ITERATE,
    MATCH,
    PEAK,
    POP,
    STALLS,
    TIGHT,
    WORK,
    WRITE,
)
from interpreter.errors import ExecutionError
from interpreter.targets import load_target
from interpreter.verify.compare import poisoned
from sandbox import build_ir
from tests.hacks import dae_programs
from tests.hacks.timing_programs import dae_embedding_bag

KERNELS = (ITERATE, FLAT, FILL, MATCH, GROUP, POP, WRITE, WORK, TIGHT, STALLS, PEAK)

PROGRAMS = {
    # the timing hack on the input it recognises: every bag's row loop runs zero times
    "zero-trip loops": lambda seen: dae_embedding_bag(*(int(i) for i in seen["indices"][:2])),
    # the same on any other input: every loop runs
    "gated loops": lambda seen: dae_embedding_bag(-1, -1),
    # every table row loaded by a callback, one token per index
    "callback loads": lambda seen: dae_programs.CORE_ROW_LOADS,
}
# (control, data) queue entries: the target's, small, and none (a deadlock on every token)
DEPTHS = {"target": None, "small": (1, 3), "none": (0, 0)}


def _forms(monkeypatch, compiled: bool) -> None:
    for kernel in KERNELS:
        pick = (
            (lambda size, k=kernel: k.compiled()) if compiled else (lambda size, k=kernel: k.plain)
        )
        monkeypatch.setattr(kernel, "pick", pick)


def _outcome(task, program, dims, inputs, target, reuse: bool):
    """(outputs as bytes, report as a dict) of one execute and simulate, or the error."""
    outputs = poisoned(task, dims)
    try:
        checked = BACKEND.execute(program, copy.deepcopy(inputs), outputs, dims, target=target)
    except ExecutionError as exc:
        return "error", str(exc)
    extra = {"checked": checked} if reuse else {}
    report = BACKEND.simulate(program, copy.deepcopy(inputs), dims, target, **extra)
    return {k: v.tobytes() for k, v in outputs.items()}, dataclasses.asdict(report)


@pytest.mark.parametrize("depths", DEPTHS)
@pytest.mark.parametrize("name", PROGRAMS)
def test_a_hack_program_runs_the_same_compiled_or_not(name, depths, monkeypatch):
    task = load_task("dae/eb_sum_hot")
    dims = task.full_dims(task.checks[0])
    inputs = task.make_inputs(dims, 9)
    built = build_ir(PROGRAMS[name](inputs), dialect="dae", signature=task.signature())
    assert built.ok, built.message
    program = BACKEND.load(built.ir)
    target = copy.deepcopy(load_target(task.target))
    if DEPTHS[depths] is not None:
        budget = target["budget"]
        budget["control_queue_entries"], budget["data_queue_entries"] = DEPTHS[depths]
    outcomes = []
    for compiled in (False, True):
        _forms(monkeypatch, compiled)
        for reuse in (False, True):
            outcomes.append(_outcome(task, program, dims, inputs, target, reuse))
    first = outcomes[0]
    for other in outcomes[1:]:
        assert other[0] == first[0]
        if first[0] != "error":
            assert other[1] == first[1]
    if depths == "none":  # every token waits behind operands a queue of 0 cannot hold
        assert first[0] == "error" and first[1].startswith("deadlock: the token of case 0")
    else:
        assert first[0] != "error", first[1]
        assert np.isfinite(first[1]["cycles"]) and first[1]["cycles"] > 0
