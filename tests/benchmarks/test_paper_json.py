"""--json of the paper-result scripts: one object per result, {"ours", "paper", "note"}."""

from __future__ import annotations

import json

import pytest

from benchmarks.perf import sam_fusion, step_paper_results


def _row(variant: str, cycles: int, flops: float = 100.0, words: float = 50.0):
    return sam_fusion.Row(variant, 1, cycles, flops, words, 0.0, "node 3 (alu) is busy")


def test_sam_fusion_result_by_hand():
    rows = [_row("unfused", 9000), _row("fused", 4000, words=30.0)]
    entry = sam_fusion.result("bigbird_attention_b16", rows)
    assert entry["ours"] == 2.25  # 9000 / 4000
    assert entry["paper"] == 2.7
    assert "memory words x0.60" in entry["note"] and "best variant fused" in entry["note"]


def test_sam_fusion_result_without_a_paper_figure_says_which_variant_won():
    rows = [_row("unfused", 500), _row("per_layer", 400), _row("fused", 800, flops=300.0)]
    entry = sam_fusion.result("gcn_karate", rows)
    assert entry["ours"] == 0.625 and entry["paper"] is None
    assert "best variant per_layer" in entry["note"] and "agrees" in entry["note"]


def _check(result: dict) -> None:
    assert result
    for name, entry in result.items():
        assert set(entry) == {"ours", "paper", "note"}, name
        assert isinstance(entry["ours"], float) and entry["note"], name


@pytest.mark.slow
def test_sam_fusion_quick_json(capsys):
    sam_fusion.main(["--quick", "--json", "--tasks", "gcn_layer_karate"])
    result = json.loads(capsys.readouterr().out)
    _check(result)
    assert set(result) == {"sam_fusion_gcn_layer_karate_fused_over_unfused"}


@pytest.mark.slow
def test_step_paper_results_quick_json(capsys):
    step_paper_results.main(["--quick", "--json", "--results", "2"])
    result = json.loads(capsys.readouterr().out)
    _check(result)
    entry = result["step_dynamic_parallelization_b16_high_vs_interleaved"]
    assert entry["paper"] == [1.47, 1.57]
    assert "b16_low_vs_coarse" in " ".join(result)
