"""The trusted half of verification: an IR in, a verdict out.

Order of checks (each answers a known reward hack, see DESIGN section 2):
1. validate the IR with the dialect's rules;
2. run it on fresh inputs, drawn after the program was built, for every check assignment of
   the symbolic dims and every held-out assignment, with outputs poisoned first, and compare
   with the PyTorch reference computed here;
3. run it on the timed input and compare that too: the timed input comes from a secret
   seed (one per solve run, so attempts and the baseline compare; fresh per `agent eval`),
   and no cycles are reported for an input whose outputs were not checked;
4. re-run the first check and demand bit-identical outputs (determinism);
5. simulate the timed input on the task's target, and reject cycle counts below the floor
   (the larger of the backend's roofline floor and the task's own, `floor.task_floor`).
   The simulator gets a fresh copy of the timed input, and whatever the backend's `execute`
   returned for its check (DAE: that run's access side, which read the inputs before any
   effect of the program, and only inputs), never anything the program could have changed.

Whatever the IR holds, a `Verdict` comes back: the program's faults are `invalid` (or
`timeout`), faults of the checker are `error` and logged with their traceback. Only faults
of the set-up raise: a task whose data file is missing, a broken task module.
"""

from __future__ import annotations

import importlib
import logging
import math
import re
import secrets
import time
from functools import cache
from typing import Any

import numpy as np

from benchmarks.task import Task, TaskError
from dsl.errors import DialectError
from interpreter.errors import ExecutionError, SimulationError
from interpreter.targets import load_target
from interpreter.verify.compare import Run, compare, describe_dims, poisoned
from interpreter.verify.floor import task_floor
from interpreter.verify.limits import Deadline, time_limit
from interpreter.verify.verdict import Verdict, one_line

log = logging.getLogger("interpreter.verifier")

# Faults of the set-up, not of the program: they stop the caller instead of becoming a
# verdict (a missing data file would otherwise fail every program of the task).
SETUP_FAULTS = (TaskError, OSError)
# Exceptions that only absurd values in a program's IR cause (sizes, steps, counts).
_ABSURD = (OverflowError, MemoryError, RecursionError)


@cache
def load_backend(dialect: str):
    """The dialect's trusted backend (`interpreter.<dialect>.BACKEND`)."""
    return importlib.import_module(f"interpreter.{dialect}").BACKEND


def plan_runs(
    task: Task, *, seeds: int, seed: int | None, timing_seed: int | None
) -> tuple[list[Run], int]:
    """The checked runs, in order, and the index of the timed one among them.

    Fresh checks come first (their feedback may show values), then held-out sizes, then the
    timed input. With `seed` (a replay) every assignment runs on that seed, and the timed
    input defaults to it too, so that one `--seed` reproduces any check of a verdict."""
    checks = [task.full_dims(c) for c in task.checks] or [task.full_dims({})]
    runs: list[Run] = []
    if seed is None:
        count = max(seeds - 1, len(checks), 1)
        runs += [Run(checks[i % len(checks)], secrets.randbits(32)) for i in range(count)]
        runs += [Run(task.full_dims(h), secrets.randbits(32), heldout=True) for h in task.heldout]
    else:
        for dims in checks:
            if Run(dims, seed) not in runs:
                runs.append(Run(dims, seed))
        runs += [Run(task.full_dims(h), seed, heldout=True) for h in task.heldout]
    if timing_seed is None:
        timing_seed = secrets.randbits(32) if seed is None else seed
    if Run(checks[0], timing_seed) in runs:  # a replay: the timed input is no longer secret
        return runs, runs.index(Run(checks[0], timing_seed))
    runs.append(Run(checks[0], timing_seed, timed=True))
    return runs, len(runs) - 1


def check_ir(
    task: Task,
    ir: Any,
    *,
    seeds: int = 3,
    seed: int | None = None,
    timing_seed: int | None = None,
    simulate: bool = True,
    time_budget_s: float = 60.0,
    sandbox: str = "",
    seconds: dict[str, float] | None = None,
    started: float | None = None,
    timed_only: bool = False,
) -> Verdict:
    """Check `ir` (what the sandbox built) on `task`; see the module's docstring.

    `timed_only` runs the timed input alone (steps 1, 3 and 5): for the task's own
    baseline, whose cycles are all a caller wants (the suites' tests check it in full)."""
    check = _Check(task, sandbox, dict(seconds or {}), started or time.perf_counter())
    try:
        return check.run(ir, seeds, seed, timing_seed, simulate, time_budget_s, timed_only)
    except SETUP_FAULTS:
        raise
    except Deadline:
        return check.verdict("timeout", f"{check.phase} took longer than {time_budget_s:g} s")
    except (DialectError, ExecutionError) as exc:
        return check.verdict("invalid", check.located(str(exc)))
    except SimulationError as exc:
        return check.verdict("invalid", check.located(f"simulation failed: {exc}"))
    except _ABSURD as exc:
        if check.phase in ("generating inputs", "computing the reference"):
            log.exception("checker failed on %s while %s", task.key, check.phase)
            return check.verdict("error", check.ours(exc))
        return check.verdict(
            "invalid", check.located(f"values in the IR too large to run: {_name(exc)}")
        )
    except Exception as exc:
        if check.phase == "loading":  # malformed IR must never crash the verifier
            log.debug("IR load failed", exc_info=True)
            return check.verdict("invalid", f"malformed IR: {_name(exc)}")
        log.exception("checker failed on %s while %s", task.key, check.phase)
        return check.verdict("error", check.ours(exc))


def _name(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _Check:
    """One verification in progress: what it is doing, on which run, since when."""

    def __init__(self, task: Task, sandbox: str, seconds: dict[str, float], started: float):
        self.task, self.sandbox, self.seconds, self.started = task, sandbox, seconds, started
        self.phase = "loading"
        self.current: Run | None = None
        self.count = 0

    def verdict(self, status: str, feedback: str, **extra: Any) -> Verdict:
        self.seconds["total"] = time.perf_counter() - self.started
        run = self.current
        return Verdict(
            self.task.key,
            status,
            one_line(feedback),
            sandbox=self.sandbox,
            seconds=self.seconds,
            runs=self.count,
            # The seed of a failed check, to replay it. The timed input's seed never leaves:
            # it is a run's (or an MCP session's) secret, and whoever knows it can compute the
            # timed input and hard-code its answer. A failure there says "the timed input".
            seed=run.seed if run and status != "passed" and not run.timed else None,
            dims=dict(run.dims) if run else None,
            **extra,
        )

    def located(self, message: str) -> str:
        """`message` with the run it happened on, as the model may read it."""
        run = self.current
        if run is None:
            return message
        if run.timed:
            return f"{message} (on the timed input)"
        if run.heldout:
            return f"{_masked(message, self.task, run)} (seed {run.seed}, a held-out size)"
        return f"{message} (seed {run.seed}, {describe_dims(run.dims)})"

    def ours(self, exc: BaseException) -> str:
        return self.located(f"the checker failed while {self.phase} ({_name(exc)}); logged")

    def run(
        self,
        ir: Any,
        seeds: int,
        seed: int | None,
        timing_seed: int | None,
        simulate: bool,
        time_budget_s: float,
        timed_only: bool = False,
    ) -> Verdict:
        task = self.task
        # The references need torch: import it before a deadline can cut its import short
        # (a half-imported torch stays broken for the life of the process).
        import torch  # noqa: F401

        backend = load_backend(task.dialect)
        target = load_target(task.target)  # queue depths can decide deadlock: runs see it
        program = backend.load(ir)
        runs, timed_index = plan_runs(task, seeds=seeds, seed=seed, timing_seed=timing_seed)
        if timed_only:
            runs, timed_index = [runs[timed_index]], 0
        check_start = time.perf_counter()
        kept: dict[int, dict[str, Any]] = {}
        with time_limit(time_budget_s):
            for index, run in enumerate(runs):
                self.current, self.count = run, index + 1
                self.phase = "generating inputs"
                inputs = task.make_inputs(run.dims, run.seed)
                self.phase = "computing the reference"
                expected = task.reference_outputs(inputs, run.dims)
                self.phase = "checking"
                outputs = poisoned(task, run.dims)
                checked = backend.execute(program, _copy(inputs), outputs, run.dims, target=target)
                self.phase = "comparing"
                mismatch = compare(task, expected, outputs, run)
                if mismatch:
                    self.seconds["check"] = time.perf_counter() - check_start
                    suffix = "" if run.timed else f"; seed {run.seed}"
                    return self.verdict("incorrect", mismatch + suffix)
                if index in (0, timed_index):
                    timed_run = checked if index == timed_index else None
                    kept[index] = {"inputs": inputs, "outputs": outputs, "checked": timed_run}
            # Determinism: the same inputs must give bit-identical outputs.
            if not timed_only:
                self.phase, self.current = "checking", runs[0]
                again = poisoned(task, runs[0].dims)
                backend.execute(
                    program, _copy(kept[0]["inputs"]), again, runs[0].dims, target=target
                )
                for name, value in kept[0]["outputs"].items():
                    if not np.array_equal(value, again[name], equal_nan=True):
                        return self.verdict(
                            "rejected",
                            self.located(
                                f"nondeterministic: output {name!r} changed when the same"
                                " inputs were run twice"
                            ),
                        )
        self.seconds["check"] = time.perf_counter() - check_start
        timed = runs[timed_index]
        self.current = timed
        if not simulate:
            return self.verdict("passed", "correct on every check (not simulated)")
        sim_start = time.perf_counter()
        self.phase = "simulating"
        # What a backend's `execute` returned for the timed input (not None: the parts of that
        # run which its simulator may time rather than compute again, see docs/interfaces.md)
        checked = kept[timed_index]["checked"]
        reuse = {} if checked is None else {"checked": checked}
        with time_limit(time_budget_s):
            report = backend.simulate(
                program, _copy(kept[timed_index]["inputs"]), timed.dims, target, **reuse
            )
        self.seconds["simulate"] = time.perf_counter() - sim_start
        floor = task_floor(task, kept[timed_index]["outputs"], target)
        return self.timed_verdict(report, floor, len(runs))

    def timed_verdict(self, report: Any, floor_of_task: float, runs: int) -> Verdict:
        """Passed with the report's figures, or rejected when the cycles are implausible."""
        cycles = float(report.cycles)
        backend_floor = float(report.floor_cycles)
        floor = max(backend_floor if math.isfinite(backend_floor) else 0.0, floor_of_task)
        extra = {
            "floor_cycles": floor,
            "metrics": dict(report.metrics),
            "bottleneck": one_line(report.bottleneck, 1000),
            "per_op": dict(report.per_op),
            "timeline": list(report.timeline),
            "resources": dict(report.resources),
        }
        if not math.isfinite(cycles) or cycles <= 0 or cycles < floor * (1 - 1e-9):
            log.error(
                "implausible cycles for %s: %s (floor %s: backend %s, task %s)",
                self.task.key,
                cycles,
                floor,
                backend_floor,
                floor_of_task,
            )
            return self.verdict(
                "rejected",
                f"simulator reported {cycles:g} cycles, below the roofline floor of"
                f" {floor:.0f}: a simulator bug, logged",
                **extra,
            )
        feedback = (
            f"correct on {runs} runs ({len(self.task.heldout)} held-out shapes, the timed"
            f" input included); {int(cycles)} cycles. {extra['bottleneck']}"
        )
        return self.verdict("passed", feedback.strip(), cycles=int(cycles), **extra)


def _masked(message: str, task: Task, run: Run) -> str:
    """`message` without the values of the run's symbolic dims (an error raised on a
    held-out size may quote a shape)."""
    for name, value in run.dims.items():
        if task.dims.get(name) is None:
            message = re.sub(rf"(?<![\w.]){value}(?![\w.])", "<held-out>", message)
    return message


def _copy(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A program may write into its inputs; the kept copy must stay as generated."""
    return {k: v.copy() for k, v in arrays.items()}
