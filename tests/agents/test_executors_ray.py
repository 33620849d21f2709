"""`--executor ray` on a local Ray cluster the tests start and stop: the same run gives the
same results as the local executor (same timing seed, same verdicts, same cycles), model
calls and checks both run as Ray tasks, and a remote failure comes back as itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.models import CostMeter, ModelError
from agents.models.builtin import BuiltinModel
from agents.models.scripted import ScriptedModel
from agents.solve_cli import NoMemory
from agents.workflows.executors import RayModel, RayVerifier, open_executor
from agents.workflows.run import RunOptions, prepare, run_suite
from agents.workflows.solve import SolveSettings
from tests.agents.test_executors import GEMM_SILU, SEED, _figures
from tests.agents.workflows.conftest import BAD_FN, GEMM

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

TASKS = [GEMM, GEMM_SILU]
SETTINGS = SolveSettings(samples=1, repair_rounds=0, optimise_rounds=1)


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _run(out: Path, kind: str) -> dict[str, Any]:
    options = RunOptions(out=out, jobs=2, executor=kind, settings=SETTINGS)
    run = prepare(out, TASKS, suite="step", model_spec="builtin", options=options)
    run["timing_seed"] = SEED
    meter = CostMeter()
    with open_executor(kind, workers=1) as executor:
        model = executor.model(BuiltinModel())
        assert isinstance(model, RayModel) == (kind == "ray")
        with executor.verifier(SEED) as pool:
            assert isinstance(pool, RayVerifier) == (kind == "ray")
            return run_suite(
                TASKS,
                model=meter.wrap(model),
                store=NoMemory(),
                meter=meter,
                pool=pool,
                run=run,
                options=options,
            )


def test_the_same_run_gives_the_same_results_on_ray_and_locally(
    tmp_path: Path, cluster: None
) -> None:
    on_ray = _run(tmp_path / "ray", "ray")
    local = _run(tmp_path / "local", "local")
    assert [e["status"] for e in on_ray["tasks"]] == ["passed", "passed"]
    assert _figures(on_ray) == _figures(local)
    assert ray.is_initialized()  # a cluster the executor joined is left running


def test_a_remote_verdict_and_a_remote_model_error_come_back_as_themselves(
    cluster: None, tmp_path: Path
) -> None:
    with open_executor("ray", workers=1) as executor:
        verdict = executor.verifier(SEED).verify(GEMM, BAD_FN)
        assert verdict["status"] == "invalid" and "matmul_nope" in verdict["feedback"]
        model = executor.model(BuiltinModel())
        with pytest.raises(ModelError, match="^builtin model needs the task"):
            model.complete([{"role": "user", "content": "hello"}])
        script = tmp_path / "s.jsonl"
        script.write_text('{"text": "hi"}\n')
        scripted = ScriptedModel(script)
        assert executor.model(scripted) is scripted  # its cursor stays on the driver


def test_a_dead_worker_is_retried_once_then_stops_the_run_in_one_line(
    cluster: None, tmp_path: Path
) -> None:
    """A Ray worker killed mid-task (os._exit, as the OOM killer would) is retried on a new
    worker; one that dies on both tries is `WorkerDied`, one line, as with the local pool."""
    import os

    from agents.workflows.executors import _outcome, _returning
    from agents.workflows.verify_pool import WorkerDied

    marker = tmp_path / "died-once"

    def die_once(path: str) -> int:
        if not os.path.exists(path):
            open(path, "w").close()
            os._exit(1)
        return os.getpid()

    def die_always() -> int:
        os._exit(1)

    once = ray.remote(max_retries=1)(_returning(die_once))
    pid = _outcome(ray, once.remote(str(marker)), what="a check", fault=WorkerDied)
    assert marker.exists() and pid != os.getpid()

    always = ray.remote(max_retries=1)(_returning(die_always))
    with pytest.raises(WorkerDied, match=r"^Ray could not run a check: \w+") as caught:
        _outcome(ray, always.remote(), what="a check", fault=WorkerDied)
    assert "\n" not in str(caught.value)
