"""The verifier pool's faults of the set-up: a worker that dies is retried once on a fresh
worker, a second death stops the run (never a verdict on the program); workers cap their
address space, so a runaway allocation is an exception there, not a kill; one timing seed
for every program and baseline the pool verifies."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import numpy as np
import pytest

from agents.workflows.verify_pool import VerifierPool, WorkerDied
from interpreter.verifier import baseline_cycles
from interpreter.verify.limits import WORKER_ADDRESS_SPACE
from tests.agents.workflows.conftest import GEMM


def _die_once(marker: str) -> str:
    if not Path(marker).exists():
        Path(marker).touch()
        os._exit(3)  # what an out-of-memory kill looks like from the pool
    return "checked"


def _die_always() -> None:
    os._exit(3)


def _allocate(nbytes: int) -> str:
    try:
        np.ones(nbytes, dtype=np.uint8)
    except MemoryError:
        return "MemoryError"
    return "allocated"


@pytest.fixture(scope="module")
def pool():
    with VerifierPool(1, timing_seed=5) as verifiers:
        yield verifiers


@pytest.mark.slow  # each death costs a worker start
def test_a_worker_that_dies_once_is_retried_on_a_fresh_one(pool, tmp_path):
    assert pool._call(_die_once, str(tmp_path / "died")) == "checked"


@pytest.mark.slow
def test_a_worker_that_dies_twice_stops_the_run(pool):
    with pytest.raises(WorkerDied, match="died twice"):
        pool._call(_die_always)
    assert pool._call(_allocate, 1) == "allocated"  # and the pool still works after


def test_workers_cap_their_address_space(pool):
    assert pool._call(resource.getrlimit, resource.RLIMIT_AS)[0] == WORKER_ADDRESS_SPACE
    assert pool._call(_allocate, 2 * WORKER_ADDRESS_SPACE) == "MemoryError"


@pytest.mark.slow  # a baseline verified in the worker and here
def test_the_pool_times_baselines_on_its_timing_seed(pool):
    assert pool.timing_seed == 5
    assert pool.baseline_cycles(GEMM) == baseline_cycles(GEMM, timing_seed=5)
    assert VerifierPool(0).timing_seed != VerifierPool(0).timing_seed  # drawn when not given
