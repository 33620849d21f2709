"""Comparing a program's outputs with the reference, and saying what differs.

The feedback is written for a model. What it may say depends on the run: on a fresh check
it names the first bad index and both values; on a held-out size it names no index, shape
or element count (any of them would give the size away); on the timed input it names no
values (the timed input is secret, so that a program cannot be written to recognise it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.task import Task


@dataclass(frozen=True)
class Run:
    """One checked run: dims, input seed, and what feedback about it may reveal."""

    dims: dict[str, int]
    seed: int
    heldout: bool = False
    timed: bool = False

    def describe(self) -> str:
        """Where a failure happened, as the model may read it."""
        if self.timed:
            return "on the timed input"
        if self.heldout:
            return "on a held-out size"
        return f"at {describe_dims(self.dims)}"


def describe_dims(dims: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in dims.items()) or "static shapes"


def poisoned(task: Task, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """Output buffers filled with a value no correct program leaves behind."""
    outputs = {}
    for spec in task.outputs:
        shape = spec.resolve(dims)
        if spec.dtype.startswith("float"):
            outputs[spec.name] = np.full(shape, np.nan, dtype=spec.dtype)
        elif spec.dtype == "bool":
            outputs[spec.name] = np.zeros(shape, dtype=bool)
        else:
            outputs[spec.name] = np.full(shape, np.iinfo(spec.dtype).min, dtype=spec.dtype)
    return outputs


def compare(
    task: Task,
    expected: dict[str, np.ndarray],
    got: dict[str, np.ndarray],
    run: Run | dict[str, int],
) -> str | None:
    """None when every output matches; otherwise one line a model can act on. `run` may be
    plain dims (a fresh check)."""
    if not isinstance(run, Run):
        run = Run(dict(run), seed=0)
    where = run.describe()
    for spec in task.outputs:
        want, have = expected[spec.name], got[spec.name]
        if want.shape != have.shape:
            if run.heldout:
                return f"output {spec.name!r} has the wrong shape {where}"
            return f"output {spec.name!r}: shape {have.shape} but the reference has {want.shape} ({where})"
        if spec.dtype.startswith("float"):
            unwritten = np.isnan(have) & ~np.isnan(want)
            close = np.isclose(have, want, rtol=task.rtol, atol=task.atol, equal_nan=True)
        else:
            unwritten = np.zeros(have.shape, dtype=bool)
            close = have == want
        if close.all():
            continue
        bad = np.argwhere(~close)
        share = f"{100 * len(bad) / max(want.size, 1):.3g}% of its elements"
        if unwritten.any():
            if run.heldout or run.timed:
                return f"output {spec.name!r} was not entirely written {where} ({share} unwritten)"
            first = [int(i) for i in np.argwhere(unwritten)[0]]
            return (
                f"output {spec.name!r} was never written at index {first}"
                f" ({int(unwritten.sum())} of {want.size} elements unwritten; {where})"
            )
        if run.timed:
            return f"output {spec.name!r} differs from the reference {where} ({share} differ)"
        index = tuple(int(i) for i in bad[0])
        detail = f"expected {want[index].item()!r}, got {have[index].item()!r}"
        if spec.dtype.startswith("float"):
            err = float(np.nanmax(np.abs(have.astype(np.float64) - want.astype(np.float64))))
            detail += f"; max abs error {err:.3g} (rtol={task.rtol}, atol={task.atol})"
        if run.heldout:
            return f"output {spec.name!r} differs {where}: {detail}; {share} differ"
        count = f"{len(bad)} of {want.size} elements differ"
        return f"output {spec.name!r} at index {list(index)} ({where}): {detail}; {count}"
    return None
