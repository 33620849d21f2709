"""Regenerating a suite's baseline programs from its builtin compiler.

Each suite whose baselines are compiler output has a `regenerate_baselines` module that
says how one task's baseline is compiled; writing them all is the same everywhere.

Tasks that differ only in their data (the same kernel on another graph, batch size or
cache state) name one baseline file between them: it is written once, titled after the
file rather than a task, and regenerating fails if the tasks sharing it would compile to
different programs — so one source stays one source. Tasks whose baselines would differ only
in a tunable parameter's value share one file too, and each names its value in
`baseline_params` (the suite's `baseline_text` compiles the file that declares them all).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def baseline_title(suite: Path, baseline: str) -> str:
    """The title a generated baseline carries: its file's stem (shared by its tasks)."""
    return (suite / baseline).stem


def collect_baselines(
    suite: Path, baseline_text: Callable[[Path], tuple[Path, str]]
) -> dict[Path, str]:
    """Every baseline file of `suite` and its text; ValueError when two task files sharing
    a baseline compile to different programs."""
    texts: dict[Path, tuple[str, Path]] = {}
    for task_file in sorted(suite.glob("*.toml")):
        path, text = baseline_text(task_file)
        if path in texts and texts[path][0] != text:
            raise ValueError(
                f"{task_file.name} and {texts[path][1].name} share {path.name} but compile to"
                " different programs; give one of them its own baseline file"
            )
        texts.setdefault(path, (text, task_file))
    return {path: text for path, (text, _) in texts.items()}


def write_baselines(suite: Path, baseline_text: Callable[[Path], tuple[Path, str]]) -> None:
    """Write the baseline of every task file in `suite` (`baseline_text` gives path, text)
    and name the files in its baselines folder that no task uses any more."""
    texts = collect_baselines(suite, baseline_text)
    for path, text in texts.items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(suite)}")
    for folder in {p.parent for p in texts}:
        for stale in sorted(set(folder.glob("*.py")) - set(texts)):
            print(f"unused: {stale.relative_to(suite)} (no task names it; delete it)")
