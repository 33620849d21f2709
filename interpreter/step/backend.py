"""The STeP dialect backend the verifier drives: load, execute, simulate."""

from __future__ import annotations

import numpy as np

from dsl.step import load_ir
from dsl.step.gc_pause import paused_gc
from dsl.step.ir import Program
from interpreter.errors import ExecutionError
from interpreter.report import SimReport
from interpreter.step.budget import check_static
from interpreter.step.run import Declared, run_functional
from interpreter.step.sim import CheckedRun, arrival_ordered, run_timed, target_params


class StepBackend:
    name = "step"

    def __init__(self) -> None:
        # The last program run: a verification runs one program some five times (checks,
        # held-out sizes, the timed input, determinism), each with its `run.Declared`.
        self._declared: Declared | None = None

    def load(self, ir: dict) -> Program:
        """Parse and validate untrusted IR (raises `dsl.errors.ValidationError`)."""
        return load_ir(ir)

    def declared(self, program: Program) -> Declared:
        """`program`'s `run.Declared`, made once while it is the program being run."""
        declared = self._declared
        if declared is None or not declared.of(program):
            declared = self._declared = Declared(program)
        return declared

    @paused_gc()
    def execute(
        self,
        program: Program,
        inputs: dict[str, np.ndarray],
        outputs: dict[str, np.ndarray],
        dims: dict[str, int],
        target: dict | None = None,
    ) -> CheckedRun:
        """Run the program and write what its stores wrote into `outputs` (elements no
        store wrote keep the verifier's poison). With `target`, a program that allocates
        more than its budget fails first (`BudgetError`); eager_merge's output order is its
        inputs' arrival order on `target` (the default target when omitted), and a
        dispatch routes as in the timed run, so the run checked is the run timed.
        Returns the run, for `simulate` to time when this input is the one timed."""
        if target is not None:
            check_static(program, target)
        params = target_params(target or {})
        declared = self.declared(program)
        if arrival_ordered(program):
            # The last timing round's functional pass is the run: its routing is the
            # arrival order of that round, which the timed run converges to.
            ctx, streams, plans, times = run_timed(program, inputs, dims, params, None, declared)
            checked = CheckedRun(params, ctx, streams, plans, times)
        else:
            ctx, streams = run_functional(program, inputs, dims, None, True, declared)
            checked = CheckedRun(params, ctx, streams)
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
        return checked

    def simulate(
        self,
        program: Program,
        inputs: dict[str, np.ndarray],
        dims: dict[str, int],
        target: dict,
        checked: CheckedRun | None = None,
    ) -> SimReport:
        """Time one run. `checked`, what `execute` returned for this program on these very
        inputs and dims (the verifier's timed check), spares running them again."""
        from interpreter.step.sim import simulate

        return simulate(program, inputs, dims, target, checked, self.declared(program))


BACKEND = StepBackend()
