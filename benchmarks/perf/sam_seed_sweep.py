"""Sweep every SAM task's baseline and builtin-compiled (fused) program over many inputs.

A correct program must pass on every input the generator can draw, so one failing seed is an
interpreter bug (or a generator that draws what the reference cannot handle). For each task
this runs both programs on `--seeds` generator seeds at every check and held-out size, then
on hand-made corner inputs derived from a generated one: every input all zero, one nonzero
only, empty rows, empty columns, fully dense. Each run is compared with the PyTorch
reference and, for the first seed, simulated on the task's target. Failures are printed with
the task, program, dims and seed (or corner case) that replay them.

The programs are traced in this process (they are our own baselines, not agent code), so
a sweep of the whole suite takes minutes, not the hours the sandbox would add.

    python -m benchmarks.perf.sam_seed_sweep [--seeds 30] [--tasks spmv,spgemm_outer]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator

import numpy as np

from benchmarks.task import Task, load_suite
from dsl import sam
from dsl.sam.compiler import compile_task
from interpreter.sam import BACKEND
from interpreter.targets import load_target
from interpreter.verify.compare import compare, poisoned

Corner = Callable[[np.ndarray, np.random.Generator, int], np.ndarray]
"""A corner case made from a generated input; the int is the task's block size (a block
task's masks keep whole b x b blocks, as its generator does)."""


def _fill(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """New nonzero values like `a`'s: ones for a 0/1 mask, normal values otherwise."""
    if np.isin(a, (0, 1)).all():
        return np.ones(a.shape, dtype=a.dtype)
    return rng.standard_normal(a.shape).astype(a.dtype)


def _one_nonzero(a: np.ndarray, rng: np.random.Generator, b: int) -> np.ndarray:
    out = np.zeros_like(a)
    if a.size:
        at = [
            int(rng.integers(n // b)) * b if a.ndim == 2 else int(rng.integers(n)) for n in a.shape
        ]
        out[tuple(slice(i, i + (b if a.ndim == 2 else 1)) for i in at)] = _fill(a, rng).flat[0]
    return out


def _empty_lines(axis: int) -> Corner:
    def corner(a: np.ndarray, rng: np.random.Generator, b: int) -> np.ndarray:
        if a.ndim < 2:
            return a
        out = a.copy()
        gone = np.repeat(rng.random(-(-a.shape[axis] // b)) < 0.5, b)[: a.shape[axis]]
        index = [slice(None)] * a.ndim
        index[axis] = gone
        out[tuple(index)] = 0
        return out

    return corner


def _dense(a: np.ndarray, rng: np.random.Generator, b: int) -> np.ndarray:
    return np.where(a != 0, a, _fill(a, rng))


CORNERS: dict[str, Corner] = {
    "all zero": lambda a, rng, b: np.zeros_like(a),
    "one nonzero": _one_nonzero,
    "empty rows": _empty_lines(0),
    "empty columns": _empty_lines(1),
    "fully dense": _dense,
}


def program_of(task: Task, source: str) -> sam.Program:
    namespace: dict = {}
    exec(compile(source, f"<{task.name}>", "exec"), namespace)
    return sam.load_ir(sam.trace(namespace["kernel"], task.signature()))


def cases(task: Task, seeds: int) -> Iterator[tuple[str, dict[str, int], dict[str, np.ndarray]]]:
    sizes = [task.full_dims(d) for d in task.checks + task.heldout]
    for seed in range(seeds):
        for dims in sizes:
            yield f"seed {seed}", dims, task.make_inputs(dims, seed)
    for name, corner in CORNERS.items():
        for dims in sizes:
            rng = np.random.default_rng(7)
            base = task.make_inputs(dims, 7)
            # one operand at a time: a corner in every input at once hides which one broke
            for victim in base:
                inputs = dict(base)
                block = int(task.spec.get("block", 1))
                inputs[victim] = corner(base[victim], rng, block).astype(base[victim].dtype)
                yield f"{name} in {victim}", dims, inputs


def run_case(task: Task, program: sam.Program, dims: dict, inputs: dict) -> str | None:
    try:
        expected = task.reference_outputs(inputs, dims)
    except Exception as exc:  # the reference itself cannot take this input: not our bug
        return f"skip (reference: {type(exc).__name__})"
    if not all(np.isfinite(v).all() for v in expected.values()):
        return "skip (the reference is undefined here, e.g. a softmax over no entries)"
    outputs = poisoned(task, dims)
    try:
        BACKEND.execute(program, {k: v.copy() for k, v in inputs.items()}, outputs, dims)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return compare(task, expected, outputs, dims)


def sweep(task: Task, seeds: int) -> tuple[int, list[str]]:
    target = load_target(task.target)
    programs = {"baseline": task.baseline_source() or "", "fused": compile_task(task)}
    failures: list[str] = []
    runs = 0
    for which, source in programs.items():
        program = program_of(task, source)
        for label, dims, inputs in cases(task, seeds):
            runs += 1
            problem = run_case(task, program, dims, inputs)
            if problem is None and label in ("seed 0", "all zero in " + task.inputs[0].name):
                try:
                    BACKEND.simulate(program, inputs, dims, target)
                except Exception as exc:
                    problem = f"simulate: {type(exc).__name__}: {exc}"
            if problem and not problem.startswith("skip"):
                failures.append(f"{task.name} {which} {dims} {label}: {problem}")
    return runs, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--tasks", default="", help="comma-separated task names (default all)")
    args = parser.parse_args()
    wanted = set(filter(None, args.tasks.split(",")))
    total, failed = 0, 0
    for task in load_suite("sam"):
        if wanted and task.name not in wanted:
            continue
        start = time.perf_counter()
        runs, failures = sweep(task, args.seeds)
        total += runs
        failed += len(failures)
        print(
            f"{task.name:28s} {runs:5d} runs {len(failures):3d} failures"
            f" {time.perf_counter() - start:6.1f} s",
            flush=True,
        )
        for line in failures[:10]:
            print("   ", line, flush=True)
    print(f"total: {total} runs, {failed} failures")


if __name__ == "__main__":
    main()
