"""Task objects built in code, for tests that need a task but not a suite on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.task import Task, TensorSpec


def make_task(
    name: str = "softmax_rows",
    *,
    dialect: str = "step",
    description: str = "Row-wise softmax of a matrix with a symbolic number of rows.",
    spec: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> Task:
    return Task(
        name=name,
        dialect=dialect,
        suite=dialect,
        path=Path(f"/nonexistent/{dialect}/{name}.toml"),
        description=description,
        target="default",
        reference="reference:softmax_secret_reference",
        generator=None,
        baseline="baseline_secret.py",
        inputs=(TensorSpec("x", "float32", ("M", "N")),),
        outputs=(TensorSpec("y", "float32", ("M", "N")),),
        dims={"M": None, "N": 64},
        checks=({"M": 37},),
        heldout=({"M": 1093},),
        spec=dict(spec or {"fn": "softmax"}),
        params=dict(params or {}),
    )
