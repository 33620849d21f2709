"""Write the STeP baselines that are the builtin compiler's static row tiling (the STeP
paper's "prior abstraction"); the dynamic tasks' baselines are hand-written static programs
and stay as they are.

Run `python -m benchmarks.step.regenerate_baselines` after changing the row-tiling lowering;
tests/benchmarks/step/test_compiler.py checks the stored files equal what it emits.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.task import load_suite
from dsl.step.compiler import compile_task, row_tiled

SUITE = Path(__file__).parent


def main() -> None:
    for task in load_suite(SUITE):
        if not row_tiled(task):
            continue
        path = SUITE / task.baseline
        text = compile_task(task)
        if path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(SUITE)}")


if __name__ == "__main__":
    main()
