"""Trusted side of the SAM dialect: functional execution and the Comal-style simulator.

`execute` runs a program's graphs stream by stream (numpy arrays per stream) and writes the
outputs; inputs may be dense arrays or sparse ones (scipy.sparse, `inputs.Coords`, turned
into fibertrees without a dense copy); `simulate` times the same streams
(`interpreter.sam.cycles`, on the shared channel solver) and reports cycles, FLOPs and
seg/crd/val traffic. `execute` returns its run (`execute.CheckedRun`), which `simulate`
times instead of running the program again when the verifier simulates the input it has
just checked (`checked`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from dsl.sam.ir import Program, load_ir
from interpreter.report import SimReport
from interpreter.sam.execute import CheckedRun, execute
from interpreter.sam.resources import check_static
from interpreter.sam.simulate import memory_steps, simulate


class SamBackend:
    """The `BACKEND` object the verifier finds by dialect name."""

    name = "sam"

    def load(self, ir: Any) -> Program:
        return load_ir(ir)

    def execute(
        self,
        program: Program,
        inputs: Mapping[str, Any],
        outputs: dict[str, np.ndarray],
        dims: dict[str, int],
        target: dict | None = None,
    ) -> CheckedRun:
        """Functional run; SAM's results do not depend on the target (FIFO depths only
        change timing, and deadlock is found by `simulate`), but a program over the target's
        static budget (lanes, primitives, block size) is refused before it runs. Returns the
        run, which `simulate` on `target` may time (`checked`): its step plans are built for
        `target`'s memory model (with memory steps when no target is given)."""
        if target is None:
            return execute(program, inputs, outputs, dims)
        check_static(program, target)
        return execute(program, inputs, outputs, dims, memory_steps(target))

    def simulate(
        self,
        program: Program,
        inputs: Mapping[str, Any],
        dims: dict[str, int],
        target: dict,
        checked: CheckedRun | None = None,
    ) -> SimReport:
        """Time one run. `checked`, what `execute` returned for this program on these very
        inputs and dims (the verifier's timed check), spares running them again."""
        return simulate(program, inputs, dims, target, checked)


BACKEND = SamBackend()
