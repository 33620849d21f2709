"""Trusted side of the SAM dialect: functional execution and the Comal-style simulator.

`execute` runs a program's graphs stream by stream (numpy arrays per stream) and writes the
outputs; inputs may be dense arrays or sparse ones (scipy.sparse, `inputs.Coords`, turned
into fibertrees without a dense copy); `simulate` times the same streams (`interpreter.sam.cycles`, on the shared channel solver) and reports cycles,
FLOPs and seg/crd/val traffic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from dsl.sam.ir import Program, load_ir
from interpreter.report import SimReport
from interpreter.sam.execute import execute
from interpreter.sam.resources import check_static
from interpreter.sam.simulate import simulate


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
    ) -> None:
        """Functional run; SAM's results do not depend on the target (FIFO depths only
        change timing, and deadlock is found by `simulate`), but a program over the target's
        static budget (lanes, primitives, block size) is refused before it runs."""
        if target is not None:
            check_static(program, target)
        execute(program, inputs, outputs, dims)

    def simulate(
        self, program: Program, inputs: Mapping[str, Any], dims: dict[str, int], target: dict
    ) -> SimReport:
        return simulate(program, inputs, dims, target)


BACKEND = SamBackend()
