"""Write every SAM task's baseline: the builtin compiler's unfused program (one graph per
statement, intermediates written and read back), FuseFlow's "unfused" configuration.

Tasks that differ only in their block size (`bigbird_attention_b{16,32,64}`) share one
file: it is compiled at Comal's largest block mode, so it declares every mode as its tunable
`block`, and each task names its own in `baseline_params` (the graph is the same for every
block size).

Run `python -m benchmarks.sam.regenerate_baselines` after changing the compiler; a test
checks that the stored files equal what the compiler emits.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from benchmarks.baselines import baseline_title, write_baselines
from dsl.sam.compiler import Operand, compile_spec
from dsl.sam.compiler_emit import BLOCK_SIZES

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
    if "block" in data.get("baseline_params", {}):
        spec["block"] = max(BLOCK_SIZES)
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
