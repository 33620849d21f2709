"""The baseline-cache hack: tasks that share one baseline file used to share its cycles (the
first task's), so a program's speedup on the others was measured against the wrong
baseline. Baselines are cached by task, task file, baseline text and timing seed now."""

from __future__ import annotations

import shutil

import pytest

from benchmarks.task import load_task, parse_task
from interpreter.verifier import baseline_cycles, baseline_verdict, verify

SUITE = load_task("step/gemm").folder


def _task_sharing_gemms_baseline(folder, name: str, rows: int):
    text = (SUITE / "gemm.toml").read_text()
    text = text.replace('name = "gemm"', f'name = "{name}"')
    text = text.replace("[[checks]]\nM = 32", f"[[checks]]\nM = {rows}", 1)
    assert f"M = {rows}" in text
    path = folder / f"{name}.toml"
    path.write_text(text)
    return parse_task(path)


@pytest.fixture
def suite(tmp_path):
    for module in ("references.py", "generators.py", "__init__.py"):
        shutil.copy(SUITE / module, tmp_path / module)
    (tmp_path / "baselines").mkdir()
    shutil.copy(SUITE / "baselines" / "gemm.py", tmp_path / "baselines" / "gemm.py")
    return tmp_path


def test_tasks_sharing_a_baseline_file_get_their_own_cycles(suite):
    """Two gemm tasks, timed at M=32 and M=256, one baseline file: the larger one's
    baseline takes longer, and each figure is what verifying that baseline on that task
    gives."""
    small = _task_sharing_gemms_baseline(suite, "gemm_small", 32)
    large = _task_sharing_gemms_baseline(suite, "gemm_large", 256)
    assert small.baseline == large.baseline
    cycles = {t.name: baseline_cycles(t, timing_seed=3) for t in (small, large)}
    assert cycles["gemm_large"] > cycles["gemm_small"] > 0, cycles
    direct = verify(large, large.baseline_source(), timing_seed=3)
    assert direct.cycles == cycles["gemm_large"]


def test_an_edited_task_file_is_timed_again(suite):
    task = _task_sharing_gemms_baseline(suite, "gemm_edited", 32)
    before = baseline_verdict(task, timing_seed=4)
    task.path.write_text(task.path.read_text().replace("M = 32", "M = 128", 1))
    after = baseline_verdict(parse_task(task.path), timing_seed=4)
    assert after is not before and after.cycles > before.cycles


@pytest.mark.slow
def test_the_three_moe_layer_tasks_get_their_own_baseline_cycles():
    keys = ("step/moe_layer", "step/moe_layer_mixtral", "step/moe_layer_qwen")
    tasks = [load_task(k) for k in keys]
    assert len({t.folder / t.baseline for t in tasks}) == 1  # one shared file
    cycles = [baseline_cycles(t, timing_seed=3) for t in tasks]
    assert all(cycles) and len(set(cycles)) == 3, cycles


def test_a_baseline_is_run_on_the_timed_input_alone_and_still_checked_there(suite):
    """Only the baseline's cycles are wanted: one run, the timed input, with the cycles a
    whole verification gives. Its outputs are still compared there: a baseline that is
    wrong on the timed input has no cycles."""
    task = _task_sharing_gemms_baseline(suite, "gemm_timed", 32)
    timed = baseline_verdict(task, timing_seed=5)
    whole = verify(task, task.baseline_source(), timing_seed=5)
    assert (timed.runs, timed.status) == (1, "passed") and whole.runs > 1
    assert timed.cycles == whole.cycles
    baseline = suite / "baselines" / "gemm.py"
    store = 'return step.linear_offchip_store(c, "c")'
    wrong = baseline.read_text().replace(store, f'c = step.map([c], "silu")\n    {store}')
    assert wrong != baseline.read_text()
    baseline.write_text(wrong)  # silu(a @ b): well formed, wrong on every input
    edited = parse_task(task.path)
    assert baseline_verdict(edited, timing_seed=5).status == "incorrect"
    assert baseline_cycles(edited, timing_seed=5) is None
