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

With `simulate_aside` (a warm eval server's request, whose second core idles once the
baseline is timed) the timed input is checked first and a forked child simulates it while
the other checks run. The verdict is the sequential one: the child's report is used only
once every check has passed (the child is killed on any other way out), a failure of the
timed check is reported in its turn (after the checks that come before it, if they pass),
and a fault of the simulation becomes the same verdict as in-process. One exception: a
timed check that runs out of time is a `timeout` at once (the budget is spent), where the
sequential order could have reported an earlier check's failure first.

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
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

from benchmarks.task import Task, TaskError
from dsl.errors import DialectError
from interpreter.errors import ExecutionError, SimulationError
from interpreter.targets import load_target
from interpreter.verify.compare import Run, compare, describe_dims, poisoned
from interpreter.verify.floor import task_floor
from interpreter.verify.forked import Forked
from interpreter.verify.limits import Deadline, time_limit
from interpreter.verify.verdict import Verdict, one_line

log = logging.getLogger("interpreter.verifier")

# Faults of the set-up, not of the program: they stop the caller instead of becoming a
# verdict (a missing data file would otherwise fail every program of the task).
SETUP_FAULTS = (TaskError, OSError)
# Exceptions that only absurd values in a program's IR cause (sizes, steps, counts).
_ABSURD = (OverflowError, MemoryError, RecursionError)
# How long past the time budget a simulating child may take to answer (it stops itself at
# the budget; this covers its exit and the pickled report).
_CHILD_GRACE_S = 2.0


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
    simulate_aside: bool = False,
    after_timed: Callable[[], object] | None = None,
) -> Verdict:
    """Check `ir` (what the sandbox built) on `task`; see the module's docstring.

    `timed_only` runs the timed input alone (steps 1, 3 and 5): for the task's own
    baseline, whose cycles are all a caller wants (the suites' tests check it in full).
    `simulate_aside` simulates in a forked child while the other checks run (the module's
    docstring): for a process with a core to spare that runs no torch in a forked child.
    `after_timed` is called once, as soon as the timed input's outputs are found correct
    (never when that check fails; the time budget's clock stops while it runs: the
    program pays for none of the caller's work there), before the simulating child is
    forked (a sandbox build there would otherwise wait for the end of its request, the
    child holding a copy of the spare sandbox's stdin), and must not raise for its own
    faults: `agent eval` starts timing the baseline there (`BackgroundBaseline`)."""
    check = _Check(task, sandbox, dict(seconds or {}), started or time.perf_counter())
    try:
        return check.run(
            ir,
            seeds,
            seed,
            timing_seed,
            simulate,
            time_budget_s,
            timed_only,
            simulate_aside,
            after_timed,
        )
    except SETUP_FAULTS:
        raise
    except Exception as exc:
        return check.verdict(*check.fault(exc, time_budget_s))


def _name(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _Check:
    """One verification in progress: what it is doing, on which run, since when."""

    def __init__(self, task: Task, sandbox: str, seconds: dict[str, float], started: float):
        self.task, self.sandbox, self.seconds, self.started = task, sandbox, seconds, started
        self.phase = "loading"
        self.current: Run | None = None
        self.count = 0
        # The inputs and outputs of the first run and of the timed one, once checked.
        self.kept: dict[int, dict[str, Any]] = {}
        self.timed_index = 0

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

    def fault(self, exc: Exception, time_budget_s: float) -> tuple[str, str]:
        """The status and feedback of `exc`, raised while `phase` on `current`: the
        program's faults are `invalid` or `timeout`, the checker's `error` (logged)."""
        task = self.task
        if isinstance(exc, Deadline):
            return "timeout", f"{self.phase} took longer than {time_budget_s:g} s"
        if isinstance(exc, (DialectError, ExecutionError)):
            return "invalid", self.located(str(exc))
        if isinstance(exc, SimulationError):
            return "invalid", self.located(f"simulation failed: {exc}")
        if isinstance(exc, _ABSURD):
            if self.phase in ("generating inputs", "computing the reference"):
                log.exception("checker failed on %s while %s", task.key, self.phase)
                return "error", self.ours(exc)
            return "invalid", self.located(f"values in the IR too large to run: {_name(exc)}")
        if self.phase == "loading":  # malformed IR must never crash the verifier
            log.debug("IR load failed", exc_info=True)
            return "invalid", f"malformed IR: {_name(exc)}"
        log.exception("checker failed on %s while %s", task.key, self.phase)
        return "error", self.ours(exc)

    def run(
        self,
        ir: Any,
        seeds: int,
        seed: int | None,
        timing_seed: int | None,
        simulate: bool,
        time_budget_s: float,
        timed_only: bool = False,
        simulate_aside: bool = False,
        after_timed: Callable[[], object] | None = None,
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
        aside = simulate_aside and simulate and len(runs) > 1
        check_start = time.perf_counter()
        self.kept.clear()
        self.timed_index = timed_index
        # Checked ahead: None, or the timed check's failure (a mismatch's message or an
        # exception, with the phase it was raised in), reported when its turn comes.
        failed: tuple[str, str | Exception] | None = None
        simulation: Forked | None = None
        try:
            with time_limit(time_budget_s) as budget:
                if aside:
                    try:
                        mismatch = self.check_one(backend, program, target, runs, timed_index)
                    except (Deadline, *SETUP_FAULTS):
                        raise
                    except Exception as exc:
                        failed = (self.phase, exc)
                    else:
                        if mismatch:
                            failed = (self.phase, mismatch)
                        else:
                            # First: a child forked before it would hold the pipes of a
                            # spare sandbox that the hook's build may use (see `check_ir`).
                            if after_timed is not None:
                                with budget.paused():  # the caller's, not the program's
                                    after_timed()
                            simulation = self.simulate_in_child(
                                backend, program, target, runs, time_budget_s
                            )
                for index in range(len(runs)):
                    if aside and index == timed_index:
                        self.current, self.count = runs[index], index + 1
                        if failed is None:
                            continue
                        self.phase, fault = failed
                        if isinstance(fault, Exception):
                            raise fault
                        mismatch = fault
                    else:
                        mismatch = self.check_one(backend, program, target, runs, index)
                        if index == timed_index and not mismatch and after_timed is not None:
                            with budget.paused():  # the caller's time, not the program's
                                after_timed()
                    if mismatch:
                        self.seconds["check"] = time.perf_counter() - check_start - budget.paused_s
                        run = runs[index]
                        suffix = "" if run.timed else f"; seed {run.seed}"
                        return self.verdict("incorrect", mismatch + suffix)
                # Determinism: the same inputs must give bit-identical outputs.
                if not timed_only:
                    self.phase, self.current = "checking", runs[0]
                    again = poisoned(task, runs[0].dims)
                    backend.execute(
                        program, _copy(self.kept[0]["inputs"]), again, runs[0].dims, target=target
                    )
                    for name, value in self.kept[0]["outputs"].items():
                        if not np.array_equal(value, again[name], equal_nan=True):
                            return self.verdict(
                                "rejected",
                                self.located(
                                    f"nondeterministic: output {name!r} changed when the same"
                                    " inputs were run twice"
                                ),
                            )
            self.seconds["check"] = time.perf_counter() - check_start - budget.paused_s
            timed = runs[timed_index]
            self.current = timed
            if not simulate:
                return self.verdict("passed", "correct on every check (not simulated)")
            self.phase = "simulating"
            if simulation is None:
                sim_start = time.perf_counter()
                report = self.simulate_timed(backend, program, target, timed, time_budget_s)
                self.seconds["simulate"] = time.perf_counter() - sim_start
            else:
                answer = self.simulated(simulation, time_budget_s)
                if answer[0] == "fault":
                    return self.verdict(answer[1], answer[2])
                report, self.seconds["simulate"] = answer[1], answer[2]
        finally:
            if simulation is not None:
                simulation.cancel()
        floor = task_floor(task, self.kept[timed_index]["outputs"], target)
        return self.timed_verdict(report, floor, len(runs))

    def check_one(
        self, backend: Any, program: Any, target: Any, runs: list[Run], index: int
    ) -> str:
        """Check `runs[index]`: the mismatch's message, or "" when its outputs are right
        (the first run's and the timed one's inputs and outputs are then kept in `kept`)."""
        task, run = self.task, runs[index]
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
        if not mismatch and index in (0, self.timed_index):
            timed_run = checked if index == self.timed_index else None
            self.kept[index] = {"inputs": inputs, "outputs": outputs, "checked": timed_run}
        return mismatch

    def simulate_timed(
        self, backend: Any, program: Any, target: Any, timed: Run, time_budget_s: float
    ) -> Any:
        """The backend's report on the timed input, within the time budget."""
        kept = self.kept[self.timed_index]
        # What a backend's `execute` returned for the timed input (not None: the parts of that
        # run which its simulator may time rather than compute again, see docs/interfaces.md)
        reuse = {} if kept["checked"] is None else {"checked": kept["checked"]}
        with time_limit(time_budget_s):
            return backend.simulate(program, _copy(kept["inputs"]), timed.dims, target, **reuse)

    def simulate_in_child(
        self, backend: Any, program: Any, target: Any, runs: list[Run], time_budget_s: float
    ) -> Forked:
        """`simulate_timed` in a forked child, as it would run after the last check. Its
        answer: ("report", report, seconds), or ("fault", status, feedback) for a fault the
        child classified (and logged) as `check_ir` does; a fault of the set-up is raised."""

        def simulate() -> tuple[str, Any, Any]:
            timed = runs[self.timed_index]
            self.current, self.count, self.phase = timed, len(runs), "simulating"
            started = time.perf_counter()
            try:
                report = self.simulate_timed(backend, program, target, timed, time_budget_s)
            except SETUP_FAULTS:
                raise
            except Exception as exc:
                return ("fault", *self.fault(exc, time_budget_s))
            return "report", report, time.perf_counter() - started

        return Forked(simulate)

    def simulated(self, simulation: Forked, time_budget_s: float) -> tuple[str, Any, Any]:
        """`simulation`'s answer (see `simulate_in_child`); a child that takes longer than
        the budget is a timeout, one that died without answering the checker's error."""
        try:
            # The child runs under the budget itself: waiting longer only covers its exit.
            return simulation.result(timeout_s=time_budget_s + _CHILD_GRACE_S)
        except TimeoutError:
            return "fault", "timeout", f"{self.phase} took longer than {time_budget_s:g} s"
        except ChildProcessError as exc:
            log.error("simulating %s in a child failed: %s", self.task.key, exc)
            return "fault", "error", self.ours(exc)

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
