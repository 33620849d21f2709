"""The STeP dialect backend the verifier drives: load, execute, simulate."""

from __future__ import annotations

import numpy as np

from dsl.step import load_ir
from dsl.step.gc_pause import paused_gc
from dsl.step.ir import Program
from interpreter.errors import ExecutionError
from interpreter.report import SimReport
from interpreter.step.budget import check_static
from interpreter.step.dispatch import has_dispatch
from interpreter.step.facts import Merged
from interpreter.step.run import run_functional


class StepBackend:
    name = "step"

    def load(self, ir: dict) -> Program:
        """Parse and validate untrusted IR (raises `dsl.errors.ValidationError`)."""
        return load_ir(ir)

    @paused_gc()
    def execute(
        self,
        program: Program,
        inputs: dict[str, np.ndarray],
        outputs: dict[str, np.ndarray],
        dims: dict[str, int],
        target: dict | None = None,
    ) -> None:
        """Run the program and write what its stores wrote into `outputs` (elements no
        store wrote keep the verifier's poison). With `target`, a program that allocates
        more than its budget fails first (`BudgetError`); eager_merge's output order is its
        inputs' arrival order on `target` (the default target when omitted), and a
        dispatch routes as in the timed run, so the run checked is the run timed."""
        if target is not None:
            check_static(program, target)
        ctx, _ = run_functional(program, inputs, dims)
        if has_dispatch(program) or any(isinstance(f, Merged) for f in ctx.facts.values()):
            from interpreter.step.sim import merge_orders

            orders = merge_orders(program, inputs, dims, target or {})
            ctx, _ = run_functional(program, inputs, dims, orders)
        for name, out in outputs.items():
            if name not in ctx.written:
                continue
            full, mask = ctx.written[name]
            if full.shape != out.shape:
                raise ExecutionError(
                    f"output {name!r} has shape {list(out.shape)} but the "
                    f"program wrote {list(full.shape)}"
                )
            out[mask] = full[mask].astype(out.dtype)

    def simulate(
        self, program: Program, inputs: dict[str, np.ndarray], dims: dict[str, int], target: dict
    ) -> SimReport:
        from interpreter.step.sim import simulate

        return simulate(program, inputs, dims, target)


BACKEND = StepBackend()
