"""Several tasks at once (`--jobs`): they really overlap, never more than asked, give the
same results as one at a time, and stop cleanly on Ctrl-C or a fault of the set-up.

Overlap is proven with barriers (a task that waits for another to arrive cannot finish
unless both run at once), never with timings. The runs are real: the step suite's gemm
tasks, the verifier pool, the scripted model (one reply per task, matched on its name).
"""

from __future__ import annotations

import json
import pickle
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.models import CostMeter, ModelError
from agents.solve_cli import NoMemory, again_command, default_jobs, verify_workers
from agents.workflows.executors import (
    ExecutorError,
    StopRequested,
    TaskThreads,
    _returning,
    forwarded_environment,
    open_executor,
)
from agents.workflows.run import RunOptions, RunStopped, prepare, run_suite
from agents.workflows.solve import SolveSettings
from agents.workflows.verify_pool import VerifierPool, WorkerDied
from benchmarks.task import load_task
from tests.agents.test_cli_solve import run_main
from tests.agents.workflows.conftest import BASELINE, GEMM, CountingPool, fenced, scripted

GEMM_SILU = load_task("step/gemm_silu")
SILU = GEMM_SILU.baseline_source() or ""
REPLIES = [
    {"text": fenced(BASELINE), "match": "# Task: step/gemm\n"},
    {"text": fenced(SILU), "match": "# Task: step/gemm_silu"},
]
ONE_ROUND = SolveSettings(samples=1, repair_rounds=0, optimise_rounds=0)
SEED = 1234  # one timing seed for every run here: their cycles compare


# ---------------------------------------------------------------------- TaskThreads


def test_task_threads_run_jobs_at_once_and_never_more() -> None:
    threads = TaskThreads(3)
    together = threading.Barrier(3, timeout=30)  # breaks unless 3 run at once
    lock, running, most = threading.Lock(), [0], [0]

    def work(item: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        if item < 3:
            together.wait()
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return item * item

    done = dict(threads.run(work, range(7)))
    assert done == {i: i * i for i in range(7)}
    assert most[0] == 3 and threads.running == 0


def test_finish_starts_nothing_more() -> None:
    threads, ran = TaskThreads(1), []
    results = threads.run(ran.append, ["first", "second"])
    assert next(results) == ("first", None)
    threads.finish()  # a budget stop: what runs goes on, nothing new starts
    assert list(results) == [] and ran == ["first"] and not threads.stop.is_set()


def test_cancel_stops_and_drain_gives_what_ends_within_the_grace() -> None:
    threads = TaskThreads(2)
    release = threading.Event()

    def work(item: str) -> str:
        if item == "stuck":
            threading.Event().wait()  # a call that never returns
        release.wait(30)
        return item.upper()

    results = threads.run(work, ["stuck", "quick"])
    threading.Timer(0.1, release.set).start()
    assert next(results) == ("quick", "QUICK")
    threads.cancel()
    assert threads.stop.is_set()
    started = time.monotonic()
    assert list(threads.drain(0.2)) == []  # the stuck one is left (a daemon thread)
    assert time.monotonic() - started < 5 and threads.running == 1


def test_jobs_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        TaskThreads(0)


# ---------------------------------------------------------------------- run_suite


@pytest.fixture(scope="module")
def verifier() -> Iterator[VerifierPool]:
    with VerifierPool(verify_workers(2), timing_seed=SEED) as pool:
        yield pool


class Meeting:
    """A model whose first call of each task waits until `parties` tasks are calling."""

    def __init__(self, model: Any, parties: int) -> None:
        self.model, self.name = model, model.name
        self.barrier = threading.Barrier(parties, timeout=120)

    def complete(self, messages: list[dict[str, str]], **options: Any):
        self.barrier.wait()  # BrokenBarrierError (a failed attempt) if the tasks do not overlap
        return self.model.complete(messages, **options)


def _solve(
    out: Path,
    model: Any,
    pool: Any,
    *,
    jobs: int,
    resume: bool = False,
    meter: CostMeter | None = None,
    outside: Any = None,
):
    """`run_suite` on gemm and gemm_silu; `outside` wraps the model outside the meter."""
    options = RunOptions(out=out, jobs=jobs, resume=resume, settings=ONE_ROUND)
    run = prepare(out, [GEMM, GEMM_SILU], suite="step", model_spec=model.name, options=options)
    meter = meter or CostMeter()
    metered = meter.wrap(model)
    return run_suite(
        [GEMM, GEMM_SILU],
        model=outside(metered) if outside else metered,
        store=NoMemory(),
        meter=meter,
        pool=pool,
        run=run,
        options=options,
    )


def _figures(results: dict[str, Any]) -> list[tuple]:
    return [
        (e["task"], e["status"], e["cycles"], e["baseline_cycles"], e["attempts"])
        for e in results["tasks"]
    ]


def test_two_tasks_at_once_overlap(tmp_path: Path, verifier: VerifierPool) -> None:
    both = _solve(tmp_path / "two", Meeting(scripted(tmp_path, REPLIES), 2), verifier, jobs=2)
    assert both["summary"]["solved"] == 2 and both["summary"]["stopped"] is None
    # Each reply is its task's baseline program, timed on the same input as the baseline.
    for entry in both["tasks"]:
        assert entry["status"] == "passed" and entry["cycles"] == entry["baseline_cycles"] > 0
    on_disk = json.loads((tmp_path / "two" / "results.json").read_text())
    assert _figures(on_disk) == _figures(both)


@pytest.mark.slow
def test_two_tasks_at_once_give_the_results_of_one_at_a_time(
    tmp_path: Path, verifier: VerifierPool
) -> None:
    alone = _solve(tmp_path / "one", scripted(tmp_path, REPLIES, "one"), verifier, jobs=1)
    both = _solve(tmp_path / "two", scripted(tmp_path, REPLIES, "two"), verifier, jobs=2)
    assert _figures(both) == _figures(alone)


class InterruptedSilu:
    """Ctrl-C arrives in gemm_silu's call while gemm's call is under way; gemm's reply
    comes back after it (so its check is never started: the run is stopping)."""

    def __init__(self, model: Any) -> None:
        self.model, self.name = model, model.name
        self.interrupted = threading.Event()

    def complete(self, messages: list[dict[str, str]], **options: Any):
        if "# Task: step/gemm_silu" in messages[-1]["content"]:
            time.sleep(0.2)  # gemm's call is waiting by now
            self.interrupted.set()
            raise KeyboardInterrupt
        assert self.interrupted.wait(60)
        time.sleep(0.2)
        return self.model.complete(messages, **options)


def test_ctrl_c_stops_every_running_task_and_resume_redoes_nothing(
    tmp_path: Path, verifier: VerifierPool
) -> None:
    pool = CountingPool(verifier)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _solve(out, InterruptedSilu(scripted(tmp_path, REPLIES, "first")), pool, jobs=2)
    stopped = json.loads((out / "results.json").read_text())
    assert stopped["summary"]["stopped"] == "interrupted"
    assert pool.verified == []  # gemm's program arrived after the stop: not checked
    assert [e["finished"] for e in stopped["tasks"]] == [False, False]

    model = scripted(tmp_path, REPLIES, "again")
    done = _solve(out, model, pool, jobs=2, resume=True)
    assert [e["status"] for e in done["tasks"]] == ["passed", "passed"]
    assert sorted(pool.verified) == sorted([BASELINE, SILU])  # each checked once
    (prompt,) = model.prompts  # gemm's reply was kept in its checkpoint: not asked again
    assert "# Task: step/gemm_silu" in prompt[-1]["content"]


class DyingOnSilu(CountingPool):
    """The verifier pool, whose worker dies for good on gemm_silu's program."""

    def verify(self, task: Any, source: str) -> dict[str, Any]:
        if task.key == "step/gemm_silu":
            raise WorkerDied("a verification worker died twice on the same check")
        return super().verify(task, source)


def test_a_fault_of_the_set_up_in_one_task_stops_the_run_in_one_line(
    tmp_path: Path, verifier: VerifierPool
) -> None:
    out = tmp_path / "run"
    with pytest.raises(RunStopped, match=r"^step/gemm_silu: verification worker: a verif"):
        _solve(out, scripted(tmp_path, REPLIES), DyingOnSilu(verifier), jobs=2)
    results = json.loads((out / "results.json").read_text())
    assert results["summary"]["stopped"].startswith("set-up fault: verification worker")


class SiluAfterGemm:
    """gemm_silu's call starts only once gemm's call has been paid for."""

    def __init__(self, model: Any) -> None:
        self.model, self.name = model, model.name
        self.paid = threading.Event()

    def complete(self, messages: list[dict[str, str]], **options: Any):
        if "# Task: step/gemm_silu" in messages[-1]["content"]:
            assert self.paid.wait(60)
            return self.model.complete(messages, **options)
        try:
            return self.model.complete(messages, **options)
        finally:
            self.paid.set()


def test_a_budget_stop_with_two_tasks_at_once_keeps_what_was_paid_for(
    tmp_path: Path, verifier: VerifierPool
) -> None:
    priced = [dict(r, cost_usd=0.01) for r in REPLIES]
    out = tmp_path / "run"
    # $0.015 allows one call: the second task's call is refused at the shared meter.
    stopped = _solve(
        out,
        scripted(tmp_path, priced),
        verifier,
        jobs=2,
        meter=CostMeter(0.015),
        outside=SiluAfterGemm,
    )
    assert stopped["summary"]["stopped"].startswith("budget")
    gemm, silu = stopped["tasks"]
    assert gemm["status"] == "passed" and silu["status"] != "passed"
    assert stopped["summary"]["cost_usd"] == 0.01


# ---------------------------------------------------------------------- choosing


def test_the_default_jobs_overlap_network_models_only() -> None:
    assert default_jobs("openai/gpt-4o", 33) == 4
    assert default_jobs("ollama/qwen2.5-coder", 2) == 2
    for offline in ("builtin", "scripted:replies.jsonl", "queue:inbox"):
        assert default_jobs(offline, 33) == 1


def test_verify_workers_leave_a_core_and_follow_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert [verify_workers(j) for j in (1, 4)] == [1, 1]
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert [verify_workers(j) for j in (1, 4, 32)] == [2, 4, 15]


def test_unknown_executors_and_misplaced_addresses_are_refused() -> None:
    with pytest.raises(ExecutorError, match="unknown executor 'spark'; use local or ray"):
        open_executor("spark", workers=1)
    with pytest.raises(ExecutorError, match="--address is for --executor ray"):
        open_executor("local", address="auto", workers=1)


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (("--executor", "spark"), "--executor must be local or ray, got 'spark'"),
        (("--address", "auto"), "--address is for --executor ray"),
        (("--jobs", "0"), "--jobs must be at least 1, got 0"),
    ],
)
def test_the_cli_refuses_bad_executor_flags_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...], line: str
) -> None:
    code = run_main("solve", "step", "--out", tmp_path / "run", *flags)
    err = capsys.readouterr().err.strip()
    assert code == 2 and line in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_only_provider_settings_are_forwarded_to_ray_workers() -> None:
    environ = {
        "OPENAI_API_KEY": "sk-1",
        "OLLAMA_API_BASE": "http://gpu:11434",
        "AZURE_API_VERSION": "2024-06-01",
        "EMPTY_API_KEY": "",
        "HOME": "/root",
        "AWS_SECRET_ACCESS_KEY": "not a model's",
    }
    assert forwarded_environment(environ) == {
        "OPENAI_API_KEY": "sk-1",
        "OLLAMA_API_BASE": "http://gpu:11434",
        "AZURE_API_VERSION": "2024-06-01",
    }


def test_a_remote_call_returns_its_exception_as_itself() -> None:
    @_returning
    def failing(kind: str) -> None:
        if kind == "model":
            raise ModelError("openai/gpt-4o: rate limited")
        raise _Unpicklable()

    kind, exc = failing("model")
    assert kind == "raised" and type(exc) is ModelError and str(exc).endswith("rate limited")
    kind, exc = failing("other")
    assert type(exc) is RuntimeError and str(exc) == "_Unpicklable: holds a lock"
    pickle.dumps(exc)
    assert _returning(lambda: 7)() == ("ok", 7)
    assert issubclass(StopRequested, BaseException) and not issubclass(StopRequested, Exception)


class _Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("holds a lock")
        self.lock = threading.Lock()


def test_the_resume_command_of_a_ray_run_says_where_it_ran() -> None:
    on_ray = RunOptions(out=Path("runs/x"), executor="ray", address="ray://head:10001")
    assert again_command("step", "gemm*", Path("runs/x"), on_ray) == (
        "agent solve step --tasks 'gemm*' --executor ray --address ray://head:10001"
        " --out runs/x --resume"
    )
    local = RunOptions(out=Path("runs/x"), jobs=4)
    assert again_command("step", None, Path("runs/x"), local) == (
        "agent solve step --out runs/x --resume"
    )
