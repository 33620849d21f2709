"""Generated baselines: tasks that differ only in their data share one baseline file, written
once from one compile, and a family whose members would compile differently is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.baselines import collect_baselines, write_baselines
from benchmarks.dae import regenerate_baselines as dae
from benchmarks.sam import regenerate_baselines as sam
from benchmarks.task import load_suite


@pytest.mark.parametrize(
    ("module", "family", "members"),
    [
        (dae, "paged_kv", ["paged_kv_bs1", "paged_kv_bs2", "paged_kv_bs4", "paged_kv_bs8"]),
        (dae, "eb_sum", ["eb_sum_cold", "eb_sum_hot"]),
        (sam, "gcn", ["gcn_karate", "gcn_powerlaw"]),
        (sam, "bigbird_attention_blocked", [f"bigbird_attention_b{b}" for b in (16, 32, 64)]),
    ],
)
def test_a_family_shares_one_file_titled_after_it(module, family: str, members: list) -> None:
    suite = module.SUITE
    for name in members:
        path, text = module.baseline_text(suite / f"{name}.toml")
        assert path == suite / "baselines" / f"{family}.py"
        assert f'"""{family}' in text and name not in text


def test_no_two_baseline_files_of_a_generated_suite_hold_the_same_program() -> None:
    for module in (dae, sam):
        texts = collect_baselines(module.SUITE, module.baseline_text)
        bodies = [text.split("\n", 5)[-1] for text in texts.values()]  # past the title
        assert len(set(bodies)) == len(bodies), module.__name__


def test_tasks_sharing_a_file_must_compile_alike(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.toml").write_text(f'baseline = "baselines/shared.py"\nk = "{name}"\n')

    def text_of(task_file: Path) -> tuple[Path, str]:
        return tmp_path / "baselines" / "shared.py", f"# {task_file.stem}\n"

    with pytest.raises(ValueError, match="a.toml share shared.py but compile to different"):
        write_baselines(tmp_path, text_of)
    assert not (tmp_path / "baselines").exists()


def test_regenerating_writes_each_file_once_and_names_unused_ones(tmp_path: Path, capsys) -> None:
    (tmp_path / "baselines").mkdir()
    (tmp_path / "baselines" / "old.py").write_text("# gone\n")
    for name in ("x1", "x2"):
        (tmp_path / f"{name}.toml").write_text("")

    def text_of(task_file: Path) -> tuple[Path, str]:
        return tmp_path / "baselines" / "x.py", "# x\n"

    write_baselines(tmp_path, text_of)
    out = capsys.readouterr().out.splitlines()
    assert out == ["wrote baselines/x.py", "unused: baselines/old.py (no task names it; delete it)"]
    assert (tmp_path / "baselines" / "x.py").read_text() == "# x\n"


def test_every_suite_task_still_finds_its_baseline() -> None:
    for suite in ("dae", "sam"):
        for task in load_suite(suite):
            assert task.baseline_source(), task.name
