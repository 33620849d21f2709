"""Trusted side of the DAE dialect: functional interpreter and cycle simulator.

`BACKEND` is what the verifier uses (docs/interfaces.md). The functional run and the
simulator share the access-side pass (`access.run_access`) and the queue matching
(`execute.match_queues`); the simulator then times the same pushes and cases (`simulator`).
Every op of the registry (`dsl.dae.ops`) has its semantics in `access` / `execute` and its
cost in `costs`, registered by name when this package is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

import interpreter.dae.costs  # noqa: F401  (registers every op's cost)
from dsl.dae import load_ir
from dsl.dae.ir import Program
from interpreter.dae import resources
from interpreter.dae.access import check_memrefs, run_access
from interpreter.dae.execute import CheckedRun, match_queues, run_cases
from interpreter.dae.target import DaeTarget, dae_target
from interpreter.errors import ExecutionError
from interpreter.report import SimReport

DEFAULT_TARGET = "dae_default"


def _queue_depths(target: DaeTarget) -> tuple[int, int]:
    b = target.budget
    return int(b.get("control_queue_entries", 64)), int(b.get("data_queue_entries", 64))


class DaeBackend:
    """Load, run and time DAE programs."""

    name = "dae"

    def load(self, ir: Any) -> Program:
        return load_ir(ir)

    def execute(
        self,
        program: Program,
        inputs: dict[str, np.ndarray],
        outputs: dict[str, np.ndarray],
        dims: dict[str, int],
        target: Mapping[str, Any] | DaeTarget | None = None,
    ) -> CheckedRun:
        """Run the program; its budget and queue depths (for deadlock) come from `target`,
        by default the `dae_default` hardware model. Returns what `simulate` may reuse to
        time this same input (`checked`)."""
        if target is None:
            from interpreter.targets import load_target

            target = load_target(DEFAULT_TARGET)
        target = dae_target(target)
        resources.check(program, dims, target)
        arrays = {**inputs, **outputs}
        check_memrefs(program, arrays, dims)
        for name, array in outputs.items():
            if not array.flags.c_contiguous:
                raise ExecutionError(f"output {name!r} must be a contiguous array")
        run = run_access(program, arrays, dims)
        depths = _queue_depths(target)
        sched = match_queues(run, *depths)
        loads = run_cases(run, sched, outputs)
        return CheckedRun(run, sched, loads, depths)

    def simulate(
        self,
        program: Program,
        inputs: dict[str, np.ndarray],
        dims: dict[str, int],
        target: Mapping[str, Any] | DaeTarget,
        checked: CheckedRun | None = None,
    ) -> SimReport:
        """Time one run. `checked`, what `execute` returned for this program on these very
        inputs and dims (the verifier's timed check), spares running them again."""
        from interpreter.dae.simulator import simulate

        return simulate(program, inputs, dims, target, checked)


BACKEND = DaeBackend()
