"""Regenerating a suite's baseline programs from its builtin compiler.

Each suite whose baselines are compiler output has a `regenerate_baselines` module that
says how one task's baseline is compiled; writing them all is the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def write_baselines(suite: Path, baseline_text: Callable[[Path], tuple[Path, str]]) -> None:
    """Write the baseline of every task file in `suite` (`baseline_text` gives path, text)."""
    for task_file in sorted(suite.glob("*.toml")):
        path, text = baseline_text(task_file)
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(suite)}")
