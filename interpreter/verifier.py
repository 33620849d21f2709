"""The verifier: the one place that decides whether a program is correct and how fast it is.

Order of checks (each answers a known reward hack, see DESIGN section 2):
1. build the IR in the sandbox (untrusted code only emits data);
2. validate the IR with the dialect's rules;
3. run it on fresh inputs, drawn after the program was built, for every check assignment of
   the symbolic dims (at least `seeds` runs) and every held-out assignment, with outputs
   poisoned first, and compare with the PyTorch reference computed here;
4. re-run the first check and demand bit-identical outputs (determinism);
5. simulate on the task's target, on one fixed input per task (the same for every program,
   so cycles compare), and reject cycle counts below the roofline floor.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import secrets
import signal
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from benchmarks.task import Task
from dsl.errors import DialectError
from interpreter.errors import ExecutionError, SimulationError
from interpreter.report import SimReport
from interpreter.targets import load_target

log = logging.getLogger(__name__)

MEASURE_SEED = 0  # the input every program of a task is timed on
STATUSES = ("passed", "incorrect", "invalid", "error", "timeout", "rejected")


@dataclass
class Verdict:
    """The outcome of verifying one program on one task (see DESIGN section 6)."""

    task: str
    status: str
    feedback: str
    cycles: int | None = None
    floor_cycles: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    bottleneck: str = ""
    per_op: dict[str, dict[str, float]] = field(default_factory=dict)
    timeline: list[tuple[str, int, int]] = field(default_factory=list)
    sandbox: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    runs: int = 0

    @property
    def correct(self) -> bool:
        return self.status == "passed"

    def to_json(self, timeline_limit: int = 2000) -> dict[str, Any]:
        return {
            "task": self.task,
            "status": self.status,
            "correct": self.correct,
            "cycles": self.cycles,
            "floor_cycles": self.floor_cycles,
            "feedback": self.feedback,
            "bottleneck": self.bottleneck,
            "metrics": self.metrics,
            "per_op": self.per_op,
            "timeline": [list(t) for t in self.timeline[:timeline_limit]],
            "sandbox": self.sandbox,
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "runs": self.runs,
        }


class _Deadline(Exception):
    """Raised inside a trusted run that went past its wall-clock budget."""


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Interrupt trusted interpretation that runs too long (main thread only)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):  # noqa: ARG001
        raise _Deadline()

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@cache
def load_backend(dialect: str):
    """The dialect's trusted backend (`interpreter.<dialect>.BACKEND`)."""
    return importlib.import_module(f"interpreter.{dialect}").BACKEND


def _poisoned(task: Task, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """Output buffers filled with a value no correct program leaves behind."""
    outputs = {}
    for spec in task.outputs:
        shape = spec.resolve(dims)
        if spec.dtype.startswith("float"):
            outputs[spec.name] = np.full(shape, np.nan, dtype=spec.dtype)
        elif spec.dtype == "bool":
            outputs[spec.name] = np.zeros(shape, dtype=bool)
        else:
            outputs[spec.name] = np.full(shape, np.iinfo(spec.dtype).min, dtype=spec.dtype)
    return outputs


def _describe_dims(dims: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in dims.items()) or "static shapes"


def compare(
    task: Task, expected: dict[str, np.ndarray], got: dict[str, np.ndarray], dims: dict[str, int]
) -> str | None:
    """None when every output matches; otherwise feedback a model can act on."""
    for spec in task.outputs:
        want, have = expected[spec.name], got[spec.name]
        if want.shape != have.shape:
            return (
                f"output {spec.name!r}: shape {have.shape} but the reference has {want.shape}"
                f" ({_describe_dims(dims)})"
            )
        if spec.dtype.startswith("float"):
            unwritten = np.isnan(have) & ~np.isnan(want)
            close = np.isclose(have, want, rtol=task.rtol, atol=task.atol, equal_nan=True)
        else:
            unwritten = np.zeros(have.shape, dtype=bool)
            close = have == want
        if close.all():
            continue
        bad = np.argwhere(~close)
        index = tuple(int(i) for i in bad[0])
        where = f"output {spec.name!r} at index {list(index)} ({_describe_dims(dims)})"
        count = f"{len(bad)} of {want.size} elements differ"
        if unwritten.any():
            first = tuple(int(i) for i in np.argwhere(unwritten)[0])
            return (
                f"output {spec.name!r} was never written at index {list(first)}"
                f" ({int(unwritten.sum())} of {want.size} elements unwritten;"
                f" {_describe_dims(dims)})"
            )
        detail = f"expected {want[index].item()!r}, got {have[index].item()!r}"
        if spec.dtype.startswith("float"):
            err = float(np.nanmax(np.abs(have.astype(np.float64) - want.astype(np.float64))))
            detail += f"; max abs error {err:.3g} (rtol={task.rtol}, atol={task.atol})"
        return f"{where}: {detail}; {count}"
    return None


def verify(
    task: Task,
    source: str,
    *,
    params: dict[str, Any] | None = None,
    sandbox_backend: str | None = None,
    seeds: int = 3,
    seed: int | None = None,
    simulate: bool = True,
    time_budget_s: float = 60.0,
) -> Verdict:
    """Verify `source` (program text) on `task`. Never raises for a bad program."""
    from sandbox import build_ir

    seconds: dict[str, float] = {}
    start = time.perf_counter()
    built = build_ir(
        source, dialect=task.dialect, signature=task.signature(params), backend=sandbox_backend
    )
    seconds["sandbox"] = time.perf_counter() - start

    def verdict(status: str, feedback: str, **extra: Any) -> Verdict:
        seconds["total"] = time.perf_counter() - start
        return Verdict(task.key, status, feedback, sandbox=built.backend, seconds=seconds, **extra)

    if built.status != "ok":
        return verdict(built.status, built.message)
    backend = load_backend(task.dialect)
    target = load_target(task.target)  # queue depths can decide deadlock, so runs see it too
    try:
        program = backend.load(built.ir)
    except DialectError as exc:
        return verdict("invalid", str(exc))
    except Exception as exc:  # malformed IR must never crash the verifier
        log.debug("IR load failed", exc_info=True)
        return verdict("invalid", f"malformed IR: {type(exc).__name__}: {exc}")

    # Fresh seeds, drawn only now that the program is fixed.
    rng_seed = secrets.randbits(32) if seed is None else seed
    runs: list[tuple[dict[str, int], int]] = []
    for i in range(max(seeds, len(task.checks))):
        runs.append((task.full_dims(task.checks[i % len(task.checks)]), rng_seed + i))
    for j, held in enumerate(task.heldout):
        runs.append((task.full_dims(held), rng_seed + 1000 + j))

    check_start = time.perf_counter()
    first: tuple[dict[str, int], dict[str, np.ndarray], dict[str, np.ndarray]] | None = None
    try:
        with _time_limit(time_budget_s):
            for dims, run_seed in runs:
                inputs = task.make_inputs(dims, run_seed)
                expected = task.reference_outputs(inputs, dims)
                outputs = _poisoned(task, dims)
                backend.execute(
                    program, {k: v.copy() for k, v in inputs.items()}, outputs, dims, target=target
                )
                mismatch = compare(task, expected, outputs, dims)
                if mismatch:
                    seconds["check"] = time.perf_counter() - check_start
                    return verdict("incorrect", f"{mismatch}; seed {run_seed}", runs=len(runs))
                if first is None:
                    first = (dims, inputs, outputs)
            # Determinism: the same inputs must give bit-identical outputs.
            dims, inputs, outputs = first
            again = _poisoned(task, dims)
            backend.execute(
                program, {k: v.copy() for k, v in inputs.items()}, again, dims, target=target
            )
            for name, value in outputs.items():
                if not np.array_equal(value, again[name], equal_nan=True):
                    return verdict(
                        "rejected",
                        f"nondeterministic: output {name!r} changed when"
                        " the same inputs were run twice",
                        runs=len(runs),
                    )
    except _Deadline:
        return verdict("timeout", f"checking took longer than {time_budget_s:.0f} s")
    except ExecutionError as exc:
        return verdict("invalid", str(exc))
    except DialectError as exc:
        return verdict("invalid", str(exc))
    seconds["check"] = time.perf_counter() - check_start
    if not simulate:
        return verdict("passed", "correct on every check (not simulated)", runs=len(runs))

    sim_start = time.perf_counter()
    # Timing uses one fixed input per task, so that cycles (which depend on the data for
    # sparse and dynamic programs) compare like with like between a program and its baseline.
    dims = task.full_dims(task.checks[0])
    inputs = task.make_inputs(dims, MEASURE_SEED)
    try:
        with _time_limit(time_budget_s):
            report: SimReport = backend.simulate(program, inputs, dims, target)
    except _Deadline:
        return verdict("timeout", f"simulation took longer than {time_budget_s:.0f} s")
    except (ExecutionError, SimulationError, DialectError) as exc:
        return verdict("invalid", f"simulation failed: {exc}")
    seconds["simulate"] = time.perf_counter() - sim_start
    extra = {
        "cycles": int(report.cycles),
        "floor_cycles": float(report.floor_cycles),
        "metrics": dict(report.metrics),
        "bottleneck": report.bottleneck,
        "per_op": dict(report.per_op),
        "timeline": list(report.timeline),
        "runs": len(runs),
    }
    if report.cycles < report.floor_cycles * (1 - 1e-9) or report.cycles <= 0:
        log.error(
            "implausible cycles for %s: %s < floor %s", task.key, report.cycles, report.floor_cycles
        )
        return verdict(
            "rejected",
            f"simulator reported {report.cycles} cycles, below the"
            f" roofline floor of {report.floor_cycles:.0f}: a simulator bug,"
            " logged",
            **extra,
        )
    feedback = (
        f"correct on {len(runs)} runs ({len(task.heldout)} held-out shapes);"
        f" {report.cycles} cycles. {report.bottleneck}"
    ).strip()
    return verdict("passed", feedback, **extra)


_baseline_cache: dict[tuple[str, float], int | None] = {}


def baseline_cycles(task: Task) -> int | None:
    """Cycles of the task's baseline program (cached per process and file version)."""
    if task.baseline is None:
        return None
    path = task.folder / task.baseline
    key = (str(path), path.stat().st_mtime)
    if key not in _baseline_cache:
        result = verify(task, task.baseline_source() or "", seed=0)
        if not result.correct:
            log.warning("baseline of %s does not pass: %s", task.key, result.feedback)
        _baseline_cache[key] = result.cycles if result.correct else None
    return _baseline_cache[key]
