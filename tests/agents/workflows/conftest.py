"""Shared pieces for the solve-workflow tests: a real task, real programs, one verifier pool.

Everything here is real: the step suite's gemm task, the sandbox and verifier (through the
worker-process pool), the SQLite experience store and the scripted model. Programs are the
suite's baseline, gemm programs written out (tests/agents/gemm_programs.py) and one small
edit of the baseline, whose verdicts were checked by hand:

    BASELINE   passes, ~1366 cycles (the matmul map is bandwidth-bound)
    FAST       passes, ~406 cycles (compute=4 gives the matmul more memory ports)
    BAD_FN     invalid: "unknown map function 'matmul_nope'"
    TWICE      invalid: a stream consumed twice (what the guardian is for)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.models import CostMeter
from agents.models.scripted import ScriptedModel
from agents.workflows.run import RunOptions, prepare, run_suite
from agents.workflows.solve import SolveSettings
from agents.workflows.verify_pool import VerifierPool
from benchmarks.task import Task, load_task
from memory.store import ExperienceStore
from tests.agents.gemm_programs import gemm_program

PROPOSE = "Write the program for this task"
GUARDIAN = "Review this program before it is verified"
REPAIR = "What the verifier found"
OPTIMISE = "What the cycle simulator reports"

GEMM = load_task("step/gemm")
BASELINE = GEMM.baseline_source() or ""
FAST = gemm_program(compute=4)
BAD_FN = gemm_program(fn="matmul_nope")
TWICE = BASELINE.replace("a_t0, a_t1 = step.copy(a_t, 2)", "a_t0 = a_t\n    a_t1 = a_t")
assert len({BASELINE, FAST, BAD_FN, TWICE}) == 4


def fenced(program: str, prose: str = "Here is the program.") -> str:
    return f"{prose}\n\n```python\n{program}```\n"


def write_script(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return path


class CountingPool:
    """The real pool, counting what it is asked to verify (to prove nothing is re-done)."""

    def __init__(self, pool: VerifierPool) -> None:
        self.pool = pool
        self.verified: list[str] = []

    def verify(self, task: Task, source: str) -> dict[str, Any]:
        self.verified.append(source)
        return self.pool.verify(task, source)

    def baseline_cycles(self, task: Task) -> int | None:
        return self.pool.baseline_cycles(task)


@pytest.fixture(scope="session")
def verifier_pool() -> Iterator[VerifierPool]:
    with VerifierPool(1) as pool:
        yield pool


@pytest.fixture
def pool(verifier_pool: VerifierPool) -> CountingPool:
    return CountingPool(verifier_pool)


def solve(
    out: Path,
    model: Any,
    pool: CountingPool,
    store: ExperienceStore,
    *,
    tasks: list[Task] | None = None,
    resume: bool = False,
    meter: CostMeter | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """One `run_suite` call, as `agent solve` makes it."""
    tasks = tasks or [GEMM]
    meter = meter or CostMeter()
    options = RunOptions(out=out, resume=resume, settings=SolveSettings(**settings))
    run = prepare(out, tasks, suite="step", model_spec=model.name, options=options)
    return run_suite(
        tasks,
        model=meter.wrap(model),
        store=store,
        meter=meter,
        pool=pool,  # type: ignore[arg-type]
        run=run,
        options=options,
    )


def detail(out: Path, task: Task = GEMM) -> dict[str, Any]:
    return json.loads((out / "tasks" / task.dialect / f"{task.name}.json").read_text())


def scripted(tmp_path: Path, entries: list[dict[str, Any]], name: str = "replies") -> ScriptedModel:
    return ScriptedModel(write_script(tmp_path / f"{name}.jsonl", entries))
