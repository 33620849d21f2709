"""The verifier pool: verdicts from worker processes, and a new pool after a worker dies."""

from __future__ import annotations

import os

import pytest

from agents.workflows.verify_pool import VerifierPool, WorkerDied
from tests.agents.workflows.conftest import BAD_FN, BASELINE, GEMM


def test_a_dead_worker_fails_one_check_and_the_pool_carries_on(
    verifier_pool: VerifierPool,
) -> None:
    bad = verifier_pool.verify(GEMM, BAD_FN)
    assert bad["status"] == "invalid" and "matmul_nope" in bad["feedback"]
    with pytest.raises(WorkerDied):
        verifier_pool._call(os._exit, 3)  # what an out-of-memory kill looks like from here
    good = verifier_pool.verify(GEMM, BASELINE)
    assert good["status"] == "passed" and good["cycles"] > 0
    assert len(good["timeline"]) > 0
