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


def _point(cycles: int, reserved: float, on_demand: float, weights: float = 0.0):
    return step_paper_results.TilingPoint(cycles, reserved, on_demand, weights, weights)


def test_tiling_entries_by_hand():
    """Dynamic: 100 cycles, 10 bytes. tile=8: 150 cycles, 12 bytes (max 1.5); tile=64: 90
    cycles, 30 bytes (max 3.0): the Pareto distance is 1.5, set by tile=8. v1 counts only
    what runs: tile=64's 25 bytes over dynamic's 10, or (25 - 2) / (10 - 2) with the 4 bytes
    of weight blocks at the paper's size (half)."""
    model = step_paper_results.MODELS[0]  # Mixtral: 8 experts, paper 1.33
    points = {0: _point(100, 10, 10, 4), 8: _point(150, 12, 12, 4), 64: _point(90, 30, 25, 4)}
    found: dict = {}
    lines = step_paper_results.tiling_entries(model, points, found)
    pareto = found["step_dynamic_tiling_pareto_mixtral-8x7b"]
    assert pareto["ours"] == 1.5 and pareto["paper"] == 1.33 and "tile=8" in pareto["note"]
    memory = found["step_dynamic_tiling_onchip_memory_mixtral-8x7b"]
    assert memory["ours"] == 2.5 and "2.88x with the paper's weight blocks" in memory["note"]
    # Mixtral's [H, 64] float32 blocks are twice the paper's bfloat16: (12 - 2) / (10 - 2)
    assert "with its blocks the tile=8 memory ratio is 1.25x" in " ".join(lines)


def test_the_v1_headline_is_over_both_models(monkeypatch):
    """Mixtral: tile=64 25 bytes over 10 (2.5x; 2.875x with its float32 [H, 64] weight blocks
    halved to the paper's); Qwen: 40 over 10 (4x; its [H, 32] float32 blocks already have the
    paper's bytes). Geometric means: sqrt(2.5 x 4) and sqrt(2.875 x 4)."""
    points = {
        8: {0: _point(100, 10, 10, 4), 64: _point(90, 30, 25, 4)},
        128: {0: _point(100, 10, 10, 4), 64: _point(90, 40, 40, 4)},
    }
    monkeypatch.setattr(step_paper_results, "sweep", lambda m, t, c, lines: points[m.experts])
    found: dict = {}
    step_paper_results.dynamic_tiling(False, False, found)
    both = found["step_dynamic_tiling_onchip_memory"]
    assert both["ours"] == round(10**0.5, 3) and both["paper"] == 2.18
    assert f"{(2.875 * 4) ** 0.5:.2f}x with the paper's weight blocks" in both["note"]
    assert found["step_dynamic_tiling_onchip_memory_qwen3-30b-a3b"]["ours"] == 4.0


def test_results_are_producers(monkeypatch, capsys):
    def fake(quick: bool, check: bool, found: dict) -> list[str]:
        found["fake"] = {"ours": 1.0 if quick and not check else 0.0, "paper": None, "note": "x"}
        return ["table"]

    monkeypatch.setitem(step_paper_results.PRODUCERS, "9", ("fake result", fake))
    step_paper_results.main(["--quick", "--json", "--results", "9"])
    assert json.loads(capsys.readouterr().out) == {
        "fake": {"ours": 1.0, "paper": None, "note": "x"}
    }
    with pytest.raises(SystemExit):
        step_paper_results.main(["--results", "7"])
    assert "unknown result '7' (choose from 1 (dynamic tiling)" in capsys.readouterr().err


@pytest.mark.slow
def test_step_paper_results_quick_json(capsys):
    step_paper_results.main(["--quick", "--json", "--results", "1"])
    result = json.loads(capsys.readouterr().out)
    _check(result)
    assert set(result) == {
        "step_dynamic_tiling_pareto_mixtral-8x7b",
        "step_dynamic_tiling_onchip_memory_mixtral-8x7b",
    }
