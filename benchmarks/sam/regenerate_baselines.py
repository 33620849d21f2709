"""Write every SAM task's baseline: the builtin compiler's unfused program (one graph per
statement, intermediates written and read back), FuseFlow's "unfused" configuration.

Run `python -m benchmarks.sam.regenerate_baselines` after changing the compiler; a test
checks that the stored files equal what the compiler emits.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from benchmarks.baselines import baseline_title, write_baselines
from dsl.sam.compiler import Operand, compile_spec

SUITE = Path(__file__).parent


def operands(entries: list[dict]) -> list[Operand]:
    return [
        Operand(e["name"], tuple(e["shape"]), e.get("format", "dense"), e.get("mode_order"))
        for e in entries
    ]


def baseline_text(task_file: Path) -> tuple[Path, str]:
    """Where the baseline of `task_file` lives and what it should contain."""
    data = tomllib.loads(task_file.read_text())
    spec = dict(data["spec"], fuse=False)
    text = compile_spec(
        spec,
        operands(data["inputs"]),
        operands(data["outputs"]),
        title=f"{baseline_title(SUITE, data['baseline'])} baseline",
    )
    return SUITE / data["baseline"], text


def main() -> None:
    write_baselines(SUITE, baseline_text)


if __name__ == "__main__":
    main()
