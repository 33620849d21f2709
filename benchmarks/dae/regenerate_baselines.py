"""Write every DAE task's baseline: the builtin compiler's O0 (naive decoupled) program.

Run `python -m benchmarks.dae.regenerate_baselines` after changing the compiler; a test
checks that the stored files equal what the compiler emits.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from benchmarks.baselines import baseline_title, write_baselines
from dsl.dae.compiler import compile_spec

SUITE = Path(__file__).parent


def baseline_text(task_file: Path) -> tuple[Path, str]:
    """Where the baseline of `task_file` lives and what it should contain."""
    data = tomllib.loads(task_file.read_text())
    inputs = tuple(i["name"] for i in data["inputs"])
    title = baseline_title(SUITE, data["baseline"])
    text = compile_spec(data["spec"], inputs, level=0, title=title)
    return SUITE / data["baseline"], text


def main() -> None:
    write_baselines(SUITE, baseline_text)


if __name__ == "__main__":
    main()
