"""The verifier: the one place that decides whether a program is correct and how fast it is.

`verify` builds the program's IR in the sandbox (untrusted code only emits data) and hands
it to the trusted half, `interpreter.verify.trusted.check_ir`, which checks it on fresh
inputs and on a secret timed input, and simulates the timed input (the order of checks is
in that module's docstring). `baseline_cycles` times a task's baseline on the same timed
input as the programs it is compared with, and on that input alone: the baseline is the
task's own program, checked in full by the suites' tests, and only its cycles are wanted
(a whole verification of it doubled the time of an `agent eval`). `BackgroundBaseline` times
it in a forked child, on the machine's other core, while the program is verified.

Timing seeds: every timed input is checked, and it comes from a seed the program cannot
predict. A solve run holds one secret `timing_seed` for all its attempts and its baselines,
so cycles compare across attempts; `agent eval` draws a fresh one per evaluation.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from benchmarks.task import Task
from interpreter.verify.compare import compare, poisoned
from interpreter.verify.forked import Forked
from interpreter.verify.trusted import check_ir, load_backend, plan_runs
from interpreter.verify.verdict import STATUSES, Verdict

__all__ = [
    "STATUSES",
    "BackgroundBaseline",
    "Verdict",
    "baseline_cycles",
    "baseline_verdict",
    "check_ir",
    "compare",
    "load_backend",
    "plan_runs",
    "poisoned",
    "verify",
]

log = logging.getLogger(__name__)


def verify(
    task: Task,
    source: str,
    *,
    params: dict[str, Any] | None = None,
    sandbox_backend: str | None = None,
    seeds: int = 3,
    seed: int | None = None,
    timing_seed: int | None = None,
    simulate: bool = True,
    time_budget_s: float = 60.0,
    filename: str = "program.py",
    timed_only: bool = False,
    after_timed: Callable[[], object] | None = None,
    simulate_aside: bool = False,
    last_build: bool = False,
) -> Verdict:
    """Verify `source` (program text) on `task`. Never raises for a bad program; raises for
    a broken set-up (`sandbox.backends.SandboxConfigError`, a task's missing data file).

    `seed` replays: every check runs on that input seed (and the timed input too, unless
    `timing_seed` is given). `timing_seed` fixes the timed input (the same secret for all
    attempts of a run); when both are None each is fresh and secret.
    `filename` is the name messages give the program (the user's file under `agent eval`).
    `timed_only` runs the timed input alone (see `baseline_verdict`). `after_timed` is
    called once the program's outputs on the timed input are found correct (see
    `BackgroundBaseline` and `check_ir`). `simulate_aside` simulates the timed input in a
    forked child while the other checks run (`check_ir`): for a warm eval server's request
    only, whose torch runs in no forked child (`agents.eval_server`), never for an
    in-process caller. `last_build`: the caller builds nothing after this program (its
    baseline's build was submitted already), so no spare sandbox starts behind it."""
    from sandbox import build_ir

    seconds: dict[str, float] = {}
    start = time.perf_counter()
    built = build_ir(
        source,
        dialect=task.dialect,
        signature=task.signature(params),
        backend=sandbox_backend,
        filename=filename,
        last=last_build,
    )
    seconds["sandbox"] = time.perf_counter() - start
    if built.status != "ok":
        seconds["total"] = time.perf_counter() - start
        return Verdict(
            task.key, built.status, built.message, sandbox=built.backend, seconds=seconds
        )
    return check_ir(
        task,
        built.ir,
        seeds=seeds,
        seed=seed,
        timing_seed=timing_seed,
        simulate=simulate,
        time_budget_s=time_budget_s,
        sandbox=built.backend,
        seconds=seconds,
        started=start,
        timed_only=timed_only,
        simulate_aside=simulate_aside,
        after_timed=after_timed,
    )


_baselines: dict[tuple[str, str, str, int], Verdict] = {}


def baseline_verdict(
    task: Task, *, timing_seed: int, sandbox_backend: str | None = None, last_build: bool = False
) -> Verdict | None:
    """The verdict of the task's baseline program, timed on `timing_seed`'s input (None
    when the task has none): run on that input alone, compared with the reference and
    simulated, floor included, since only its cycles are wanted (the suites' tests verify
    every baseline in full). `last_build`: as `verify`'s (the caller builds nothing after).

    Cached per process by what decides the result: the task (key and file content), the
    baseline's text and the timing seed. Never by file name: tasks that share a baseline
    file differ in dims and inputs, so each gets its own cycles."""
    source = task.baseline_source()
    if source is None:
        return None
    key = (task.key, _digest(task.path.read_bytes()), _digest(source.encode()), timing_seed)
    if key not in _baselines:
        verdict = verify(
            task,
            source,
            timing_seed=timing_seed,
            sandbox_backend=sandbox_backend,
            timed_only=True,
            last_build=last_build,
        )
        if not verdict.correct:
            log.warning("baseline of %s does not pass: %s", task.key, verdict.feedback)
        _baselines[key] = verdict
    return _baselines[key]


def baseline_cycles(
    task: Task, *, timing_seed: int, sandbox_backend: str | None = None, last_build: bool = False
) -> int | None:
    """Cycles of the task's baseline on `timing_seed`'s input (None: no baseline, or it
    fails). `last_build`: as `baseline_verdict`'s."""
    verdict = baseline_verdict(
        task, timing_seed=timing_seed, sandbox_backend=sandbox_backend, last_build=last_build
    )
    return verdict.cycles if verdict is not None and verdict.correct else None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BackgroundBaseline:
    """`baseline_cycles` timed in a forked child while the caller checks its program, so
    that the two run on two cores (`agent eval` waited 0.3-0.6 s for a DAE baseline after
    the program's verification).

    `submit` sends the baseline to a sandbox before the program's build (the baseline is
    the task's, trusted; its sandbox sees no inputs), so that it traces on the other core.
    `start` runs once the program's outputs on the timed input are found correct (`verify`'s
    `after_timed`; before that the baseline's cycles may never be wanted): it collects that
    build (or, not submitted, builds the baseline then, in the sandbox the program's build
    left spare), and a child (`interpreter.verify.forked`) checks and simulates it on the
    timed input (`check_ir`, timed only, as `baseline_verdict`). Forked
    there, the child finds loaded and warmed what the program's first check needed (the
    task's generators and references, the interpreter's first run: 0.1-0.3 s of CPU it
    would otherwise spend again), and shares nothing with the program's checks: its answer
    is one integer on a pipe. A child that fails, cannot start, or has not answered within
    `cycles`' timeout, only loses the speedup (None), never changes a verdict. Torch must
    run on no more than one thread in this process (a request of agents.eval_server: an
    OpenMP pool started in the parent hangs a forked child's parallel operations); the
    child runs it on one thread too."""

    def __init__(self, task: Task, *, timing_seed: int, sandbox_backend: str | None) -> None:
        self.task, self.timing_seed, self.sandbox_backend = task, timing_seed, sandbox_backend
        self._child: Forked | None = None
        self._build: Any = None  # a `sandbox.runner.PendingBuild`, until collected
        self._submitted = False

    def submit(self, last: bool = False) -> None:
        """Send the baseline's source to a sandbox now, before the program's build, and
        return at once: it traces on the other core while the program builds and is checked
        (a 741 KB STeP IR took 0.4-0.6 s, on the critical path when built in `start`).
        Collected by `start`, stopped by `cancel`. A sandbox that fails to start only loses
        the speedup (logged). `last`: nothing is built after it, so no spare sandbox starts
        behind it."""
        from sandbox import submit_build
        from sandbox.backends import SandboxConfigError

        task = self.task
        self._submitted = True
        try:
            self._build = submit_build(
                task.baseline_source(),
                dialect=task.dialect,
                signature=task.signature(),
                backend=self.sandbox_backend,
                last=last,
            )
        except (SandboxConfigError, OSError) as exc:
            log.warning("building the baseline of %s could not start: %s", task.key, exc)

    def start(self) -> None:
        """Build the baseline (or collect the build `submit` started) and fork the child
        that times it; no child (no cycles) when it fails to build, or the sandbox or the
        fork fails (logged): never raises for those, being called in the middle of the
        program's checks."""
        from sandbox.backends import SandboxConfigError

        task = self.task
        if not self._submitted:
            self.submit(last=True)  # `agent eval`'s two builds: the program's, then this one
        try:
            build, self._build = self._build, None
            if build is None:  # it could not start (logged)
                return
            built = build.result()
            if built.status != "ok":
                log.warning("baseline of %s does not build: %s", task.key, built.message)
                return
            seed = self.timing_seed
            self._child = Forked(lambda: _time_baseline(task, built.ir, built.backend, seed))
        except (SandboxConfigError, OSError) as exc:
            log.warning("timing the baseline of %s could not start: %s", task.key, exc)

    def cycles(self, timeout_s: float) -> int | None:
        """The baseline's cycles, waiting up to `timeout_s` s for them; None if it has none,
        fails or takes longer (the child is then killed)."""
        if self._child is None:
            return None
        try:
            return self._child.result(timeout_s)
        except Exception as exc:
            log.warning("timing the baseline of %s failed: %s", self.task.key, exc)
            return None

    def cancel(self) -> None:
        """Stop the baseline's build if uncollected and the child if it still runs, and
        reap them; the answer is dropped."""
        build, self._build = self._build, None
        if build is not None:
            build.cancel()
        if self._child is not None:
            self._child.cancel()


def _time_baseline(task: Task, ir: Any, sandbox: str, timing_seed: int) -> int | None:
    """In `BackgroundBaseline`'s child: the baseline's cycles on `timing_seed`'s input (None
    when it fails)."""
    import torch

    torch.set_num_threads(1)
    verdict = check_ir(task, ir, timing_seed=timing_seed, sandbox=sandbox, timed_only=True)
    if not verdict.correct:
        log.warning("baseline of %s does not pass: %s", task.key, verdict.feedback)
    return verdict.cycles if verdict.correct else None
