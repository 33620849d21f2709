"""The DAE ladder: each rung is one change over the one above, the last rung is the builtin
policy, and the per-result JSON (geomeans checked by hand on made-up cycles)."""

from __future__ import annotations

import json

import pytest

from benchmarks.perf import dae_ladder as ladder
from benchmarks.task import load_suite
from dsl.dae.compiler import compile_spec, compile_task


def _task(name: str):
    return next(t for t in load_suite("dae") if t.name == name)


def _text(task, rung: ladder.Rung) -> str:
    inputs = tuple(s.name for s in task.inputs)
    return compile_spec(dict(task.spec), inputs, rung.level, task.name, **rung.hints)


def _untuned(text: str) -> str:
    """`text` without the tunable lanes knob (declared only without contiguous row loads)."""
    lines = [line for line in text.splitlines() if not line.startswith("@dae.tunable")]
    return (
        "\n".join(lines)
        .replace(", lanes=8, **params", ", **params")
        .replace("lanes=lanes", "lanes=8")
    )


def test_the_last_rung_is_the_builtin_o3_and_the_first_the_baseline_level():
    task = _task("eb_sum_hot")
    by = {r.name: r for r in ladder.RUNGS}
    assert _text(task, by[ladder.BUILTIN]) == compile_task(task, 3)
    assert _text(task, by["O0"]) == compile_task(task, 0)


def test_ember_o3_is_queue_alignment_alone():
    """O3 differs from O2 by the counter only: no contiguous rows, no non-temporal hints, one
    row per callback."""
    task = _task("eb_weighted")
    by = {r.name: r for r in ladder.RUNGS}
    o2, o3 = _text(task, by["O2"]), _text(task, by["O3"])
    assert "dae.counter(0)" in o3 and "dae.counter(0)" not in o2
    for text in (o2, o3):
        assert "contiguous=True" not in text
        assert "nontemporal=True" not in text
        assert "step=2" not in text  # no group of rows
    contig = _text(task, by["O3+contig"])
    assert _untuned(contig).replace(", contiguous=True", "") == _untuned(o3)  # the hint only
    assert "step=2" in _text(task, by["O3+rows"])


def test_every_rung_changes_the_program():
    task = _task("mp_mean")
    texts = [_text(task, r) for r in ladder.RUNGS[:-1]]  # the hints rung: index loads only
    assert len(set(texts)) == len(texts)


def _rows(cycles: dict[str, int]) -> dict[str, dict]:
    metrics = {
        "access_busy": 0.5,
        "execute_busy": 0.5,
        "operands": 10.0,
        "callbacks": 4.0,
        "memory_requests": 8.0,
        "correct": True,
    }
    return {name: {"cycles": c, **metrics} for name, c in cycles.items()}


def test_summary_geomeans_by_hand():
    names = [r.name for r in ladder.RUNGS + ladder.SIDE]
    # eb_x: every rung 2x over O0 except O3 (4x); mp_x: O3 8x -> O3 geomean sqrt(4*8).
    a = dict.fromkeys(names, 500) | {"O0": 1000, "O3": 250}
    b = dict.fromkeys(names, 500) | {"O0": 1000, "O3": 125}
    spmm = dict.fromkeys(names, 1) | {"O0": 1000}  # not one of Ember's groups: left out
    result = ladder.summary(
        ladder.Ladder({"eb_x": _rows(a), "mp_x": _rows(b), "spmm_x": _rows(spmm)})
    )
    o3 = result["dae_ladder_O3_geomean_dlrm_mp"]
    assert o3["ours"] == pytest.approx(32**0.5, abs=0.01)
    assert o3["paper"] == 10.9
    assert "ReplaceToValOps" in o3["note"]
    assert result["dae_ladder_O1_geomean_dlrm_mp"]["ours"] == 2.0
    assert result["dae_ladder_O3_geomean_dlrm"]["ours"] == 4.0
    assert result["dae_ladder_O3+contig_geomean_dlrm_mp"]["paper"] is None
    assert "off Ember" in result["dae_ladder_O1_geomean_dlrm_mp"]["note"]  # 2.0 vs 5.1
    assert set(json.loads(json.dumps(result))) == set(result)


@pytest.mark.slow
def test_quick_json_run(capsys):
    ladder.main(["--quick", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert {"ours", "paper", "note"} == set(result["dae_ladder_O2_geomean_dlrm_mp"])
    assert result["dae_ladder_O3+nt_geomean_dlrm_mp"]["ours"] > 1.0


def test_a_table_batched_bag_is_not_on_ember_ladder():
    """Its O1 cannot be vectorisation alone (the unit budget moves its zeroing to `beg`)."""
    assert not ladder.on_the_ladder(_task("eb_multi_table"))
    assert all(ladder.on_the_ladder(_task(n)) for n in ("eb_sum_hot", "eb_weighted", "mp_mean"))
