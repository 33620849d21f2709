"""Where a run's work happens: several tasks at once on this machine, and on a Ray cluster.

A solve run has three kinds of work. The task workflows (langgraph graphs: cheap
bookkeeping, their checkpoints and the experience store) always run on the driver, in
`TaskThreads`, `--jobs` of them at once: that is what keeps "the store and the run folder
are written by the driver only", a shared cost budget, and resume from checkpoints exactly
as they are with one task at a time. The two heavy leaves of every workflow go where the
executor sends them:

    executor   model calls                           checks (verify, baseline)
    local      driver threads (they wait on I/O)     `VerifierPool`: worker processes here
    ray        Ray tasks (a stateless model only)    Ray tasks, each through a capped child
                                                     process on its node (as `VerifierPool`)

Both give the same results for the same run: the timing seed travels with every check, and
a model that keeps state between calls (scripted, queue) answers on the driver either way.
`ray` is imported only by `--executor ray` (the CLI starts as fast without it), and it is
the optional extra `.[ray]` (set-up installs it).

Stopping: Ctrl-C or a fault of the set-up sets `TaskThreads.stop`; the gated model and
verifier (`gated_model`, `GatedVerifier`) then raise `StopRequested` at the next call of
every running task, whose progress so far is in its checkpoints. Task threads are daemons,
so a call that never returns cannot hold the process after the run has saved and stopped.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from agents.models.base import ModelError, one_line

if TYPE_CHECKING:
    from agents.models import Model, Reply
    from benchmarks.task import Task

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
# A model call mostly waits on the network: several share one CPU of the cluster's.
MODEL_CALL_CPUS = 0.25
# The variables a model call on another machine may need (credentials, local server
# addresses); forwarded to the Ray job's workers when set here, and nothing else.
FORWARDED_SUFFIXES = ("_API_KEY", "_API_BASE", "_API_VERSION", "_BASE_URL")

Item = TypeVar("Item")
Result = TypeVar("Result")


class ExecutorError(Exception):
    """The executor cannot be used as asked (unknown kind, Ray missing or unreachable)."""


class StopRequested(BaseException):
    """Raised in a task's thread at its next model call or check once the run is stopping.

    A BaseException, like KeyboardInterrupt: no handler for a failed call may turn it into
    a failed attempt (which would be recorded as a verdict)."""


class TaskThreads:
    """Run `fn` over items, at most `jobs` at once, in daemon threads; yield as they finish.

    `fn` must return (not raise): its result carries any error to the caller, which decides
    on the driver what a failure means. `finish()` starts no further item; `cancel()` also
    sets `stop`, which the gated model and verifier turn into `StopRequested`."""

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.jobs = jobs
        self.stop = threading.Event()
        self._finishing = False
        self._running = 0
        self._done: queue.Queue[tuple[Any, Any]] = queue.Queue()

    @property
    def running(self) -> int:
        return self._running

    def finish(self) -> None:
        self._finishing = True

    def cancel(self) -> None:
        self._finishing = True
        self.stop.set()

    def run(
        self, fn: Callable[[Item], Result], items: Iterable[Item]
    ) -> Iterator[tuple[Item, Result]]:
        pending = deque(items)
        while True:
            while pending and self._running < self.jobs and not self._finishing:
                self._start(fn, pending.popleft())
            if not self._running:
                return
            item, result = self._done.get()  # Ctrl-C lands here, with nothing taken
            self._running -= 1
            yield item, result

    def drain(self, timeout: float) -> Iterator[tuple[Any, Any]]:
        """What the running items return within `timeout` seconds (after `cancel`)."""
        deadline = time.monotonic() + timeout
        while self._running:
            try:
                item, result = self._done.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                log.info(
                    "%d task(s) still running after %.0f s: left to resume", self._running, timeout
                )
                return
            self._running -= 1
            yield item, result

    def _start(self, fn: Callable[[Any], Any], item: Any) -> None:
        def body() -> None:
            self._done.put((item, fn(item)))

        self._running += 1
        threading.Thread(target=body, name=f"task-{self._running}", daemon=True).start()


# ---------------------------------------------------------------------- gates


class _GatedModel:
    """A model whose calls stop once the run is stopping (see `StopRequested`)."""

    def __init__(self, model: Model, stop: threading.Event) -> None:
        self._model = model
        self._stop = stop
        self.name = model.name

    def complete(self, messages: list[dict[str, str]], **options: Any) -> Reply:
        if self._stop.is_set():
            raise StopRequested
        return self._model.complete(messages, **options)

    def __getattr__(self, name: str) -> Any:  # the wrapped model's other attributes
        return getattr(self._model, name)


def gated_model(model: Model, stop: threading.Event) -> Model:
    return _GatedModel(model, stop)


class GatedVerifier:
    """A verifier (`verify`, `baseline_cycles`) whose checks stop once the run is stopping."""

    def __init__(self, verifier: Any, stop: threading.Event) -> None:
        self._verifier = verifier
        self._stop = stop

    def verify(self, task: Task, source: str) -> dict[str, Any]:
        if self._stop.is_set():
            raise StopRequested
        return self._verifier.verify(task, source)

    def baseline_cycles(self, task: Task) -> int | None:
        if self._stop.is_set():
            raise StopRequested
        return self._verifier.baseline_cycles(task)


# ---------------------------------------------------------------------- executors


class Executor:
    """The local executor: checks in a `VerifierPool` of `workers` processes, model calls
    where the workflow makes them. Enter it (Ray: connects to the cluster) before the run
    folder is prepared, then open `verifier(timing_seed)` on the run's seed."""

    kind = "local"

    def __init__(self, *, workers: int, sandbox_backend: str | None = None) -> None:
        self.workers = workers
        self.sandbox_backend = sandbox_backend

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def verifier(self, timing_seed: int) -> Any:
        """A context manager that gives the run's verifier (`verify`, `baseline_cycles`)."""
        from agents.workflows import verify_pool

        return verify_pool.VerifierPool(
            self.workers, sandbox_backend=self.sandbox_backend, timing_seed=timing_seed
        )

    def model(self, base: Model) -> Model:
        return base


class RayExecutor(Executor):
    """Model calls and checks as Ray tasks on the cluster at `address` (None: start a local
    one for this run). The driver keeps the workflows, the store and the run folder."""

    kind = "ray"

    def __init__(self, *, address: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.address = address
        self._ray: Any = None
        self._started = False

    def __enter__(self) -> RayExecutor:
        ray = import_ray()
        if not ray.is_initialized():
            env = forwarded_environment()
            try:
                ray.init(
                    address=self.address,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                    runtime_env={"env_vars": env} if env else None,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
                raise ExecutorError(
                    f"--executor ray: cannot start or reach {where}: {one_line(exc)}"
                ) from None
            self._started = True
        self._ray = ray
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            self._ray.shutdown()

    def verifier(self, timing_seed: int) -> Any:
        return RayVerifier(self._ray, sandbox_backend=self.sandbox_backend, timing_seed=timing_seed)

    def model(self, base: Model) -> Model:
        if not getattr(base, "stateless", False):
            return base  # its state (a script's cursor, a queue folder) is on the driver
        return RayModel(self._ray, base)


def open_executor(kind: str, *, address: str | None = None, **options: Any) -> Executor:
    """The executor `kind` names (`EXECUTORS`); enter it to use it. `options`: workers,
    sandbox_backend."""
    if kind == "local":
        if address is not None:
            raise ExecutorError("--address is for --executor ray")
        return Executor(**options)
    if kind == "ray":
        return RayExecutor(address=address, **options)
    raise ExecutorError(f"unknown executor {kind!r}; use {' or '.join(EXECUTORS)}")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ExecutorError(
            "--executor ray needs Ray: pip install -e '.[ray]' (scripts/setup.sh installs it)"
        ) from None
    return ray


def forwarded_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The provider settings set here that a model call on a Ray worker needs."""
    environ = dict(os.environ if environ is None else environ)
    return {k: v for k, v in environ.items() if k.endswith(FORWARDED_SUFFIXES) and v}


# ---------------------------------------------------------------------- on Ray


class RayModel:
    """A stateless model whose calls run as Ray tasks (the model is sent once)."""

    def __init__(self, ray: Any, base: Model) -> None:
        self._ray = ray
        self._base = ray.put(base)
        self._call = ray.remote(num_cpus=MODEL_CALL_CPUS, max_retries=1)(_complete_on_node)
        self.name = base.name
        self.stateless = True

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.7,
        max_tokens: int = 4096,
        task: Task | None = None,
    ) -> Reply:
        ref = self._call.remote(self._base, messages, temperature, max_tokens, task)
        return _outcome(self._ray, ref, what="a model call", fault=ModelError)


class RayVerifier:
    """`verify` and `baseline_cycles` as Ray tasks, each on the run's timing seed."""

    def __init__(self, ray: Any, *, sandbox_backend: str | None, timing_seed: int) -> None:
        self._ray = ray
        self.sandbox_backend = sandbox_backend
        self.timing_seed = timing_seed
        self._check = ray.remote(max_retries=1)(_check_on_node)

    def verify(self, task: Task, source: str) -> dict[str, Any]:
        ref = self._check.remote("verify", str(task.path), source, *self._where())
        return _outcome(self._ray, ref, what="a check", fault=_worker_died())

    def baseline_cycles(self, task: Task) -> int | None:
        ref = self._check.remote("baseline", str(task.path), None, *self._where())
        return _outcome(self._ray, ref, what="a baseline", fault=_worker_died())

    def _where(self) -> tuple[str | None, int]:
        return self.sandbox_backend, self.timing_seed

    def __enter__(self) -> RayVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        """Nothing to close: the executor owns the cluster connection."""


def _worker_died() -> type[Exception]:
    from agents.workflows.verify_pool import WorkerDied

    return WorkerDied


def _outcome(ray: Any, ref: Any, *, what: str, fault: type[Exception]) -> Any:
    """The value of a Ray task run by `_returning`; its exception raised here as itself.

    Ray failing to run it (a worker that died on both tries, a lost node) raises `fault`:
    `WorkerDied` for a check (a fault of the set-up, which stops the run, as with the local
    pool), `ModelError` for a model call (that attempt fails)."""
    try:
        kind, value = ray.get(ref)
    except ray.exceptions.RayError as exc:
        raise fault(
            f"Ray could not run {what}: {type(exc).__name__}: {exc}".split("\n")[0]
        ) from None
    if kind == "raised":
        raise value
    return value


def _returning(fn: Callable[..., Any]) -> Callable[..., tuple[str, Any]]:
    """Return an exception as a value: Ray's own wrapping would change its type and fill
    its message with a remote traceback, where the workflow wants the one-line original."""

    @functools.wraps(fn)
    def wrapper(*args: Any) -> tuple[str, Any]:
        try:
            return "ok", fn(*args)
        except Exception as exc:
            try:
                pickle.dumps(exc)
            except Exception:
                exc = RuntimeError(f"{type(exc).__name__}: {exc}")
            return "raised", exc

    return wrapper


@_returning
def _complete_on_node(
    model: Model, messages: list, temperature: float, max_tokens: int, task: Task | None
) -> Reply:
    return model.complete(messages, temperature=temperature, max_tokens=max_tokens, task=task)


@_returning
def _check_on_node(
    kind: str, task_path: str, source: str | None, sandbox_backend: str | None, timing_seed: int
) -> Any:
    """One check on a Ray node, through that node's capped child process (a program that
    allocates without bound gets a verdict there, and never takes the Ray worker down)."""
    pool = _node_pool(sandbox_backend, timing_seed)
    task = _node_task(task_path)
    return pool.verify(task, source) if kind == "verify" else pool.baseline_cycles(task)


@functools.cache
def _node_pool(sandbox_backend: str | None, timing_seed: int) -> Any:
    from agents.workflows.verify_pool import VerifierPool

    return VerifierPool(1, sandbox_backend=sandbox_backend, timing_seed=timing_seed)


@functools.cache
def _node_task(path: str) -> Task:
    from benchmarks.task import parse_task

    return parse_task(Path(path))
