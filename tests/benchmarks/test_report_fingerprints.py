"""The "behaviour unchanged" fingerprints: a run is reproducible, and a comparison names what
differs — outputs, a figure, a per-op key — rather than just "different"."""

from __future__ import annotations

import json

import pytest

from benchmarks.perf import report_fingerprints as rf
from benchmarks.task import load_task


def _row(**fields) -> dict:
    row = {
        "task": "sam/spmv",
        "program": "baseline",
        "shape": "N=8",
        "output": "abc",
        "cycles": 100,
        "floor_cycles": 50.0,
        "metrics": {"util": 0.5, "stalls": 3.0},
        "resources": {"lanes": 1.0},
        "per_op": {"op 0": {"busy": 1.0, "critical_cycles": 5.0}, "op 1": {"busy": 2.0}},
        "bottleneck": "Critical path: ...",
    }
    row.update(fields)
    row["fields"] = {f: rf.digest(row.get(f)) for f in rf.FIELDS}
    row["digest"] = rf.digest([row.get("output"), row["fields"], row.get("error")])
    return row


def test_identical_runs_compare_equal():
    rows = [_row(), _row(shape="N=16")]
    assert rf.compare(rows, json.loads(json.dumps(rows))) == ["2 of 2 common rows identical"]


def test_a_comparison_names_each_differing_field():
    a = _row()
    b = _row(
        cycles=101,
        output="abd",
        metrics={"util": 0.5, "stalls": 4.0},
        per_op={"op 0": {"busy": 1.0, "critical_cycles": 6.0}, "op 1": {"busy": 2.0}},
    )
    lines = rf.compare([a], [b])
    assert lines[0] == (
        "sam/spmv baseline N=8: outputs; cycles 100 -> 101; metrics[stalls];"
        " per_op[critical_cycles x1]"
    )
    assert "0 of 1 common rows identical" in lines
    assert lines[-4:] == [
        "  sam cycles: 1 rows",
        "  sam metrics[stalls]: 1 rows",
        "  sam outputs: 1 rows",
        "  sam per_op[critical_cycles]: 1 rows",
    ]


def test_a_change_in_the_last_bit_of_a_float_is_seen():
    a, b = _row(), _row(floor_cycles=50.0 + 2**-40)
    assert rf.differences(a, b) == [f"floor_cycles 50.0 -> {50.0 + 2**-40}"]


def test_rows_in_one_run_only_and_errors_are_listed():
    a, b = _row(), _row(error="simulate: SimulationError: deadlock")
    extra = _row(task="dae/eb_max")
    lines = rf.compare([a, extra], [b])
    assert "dae/eb_max baseline N=8: only in A" in lines
    assert any(line.startswith("sam/spmv baseline N=8: error None -> ") for line in lines)


def test_ops_added_or_removed_are_counted():
    assert rf._per_op_keys({"a": {}}, {"a": {}, "b": {}}) == ["(ops added/removed) x1"]


def test_non_finite_and_numpy_values_digest_stably():
    import numpy as np

    assert rf.digest({"x": np.float64(1.5), "y": float("nan")}) == rf.digest({"y": "nan", "x": 1.5})
    assert rf.digest([1, 2]) == rf.digest((1, 2)) != rf.digest([2, 1])


def test_a_broken_program_is_a_row_not_a_crash(monkeypatch):
    task = load_task("sam/spmv")
    sources = [("syntax", "def kernel(:\n", ""), ("uncovered", None, "NotCovered: no rule")]
    monkeypatch.setattr(rf, "programs", lambda task: iter(sources))
    rows = list(rf.fingerprint(task, 11))
    assert [(r["program"], r["error"].split(":")[0]) for r in rows] == [
        ("syntax", "build"),
        ("uncovered", "NotCovered"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("ref", ["step/rmsnorm", "sam/spmv", "dae/eb_sum_hot"])
def test_a_real_task_fingerprints_reproducibly_and_sees_a_new_seed(ref):
    """Every program of the task runs every check shape; a second run gives the same digests,
    and a run on another seed differs in the outputs the comparison names."""
    task = load_task(ref)
    first, again = list(rf.fingerprint(task, 11)), list(rf.fingerprint(task, 11))
    assert not [r for r in first if "error" in r]
    assert len(first) >= 2 * len(task.checks)
    assert rf.compare(first, again)[0] == f"{len(first)} of {len(first)} common rows identical"
    other = rf.compare(first, list(rf.fingerprint(task, 12)))
    assert f"0 of {len(first)} common rows identical" in other
    assert f"  {ref.split('/')[0]} outputs: {len(first)} rows" in other


def test_a_file_that_is_not_a_fingerprint_run_is_a_one_line_usage_error(tmp_path, capsys):
    bad = tmp_path / "a.json"
    bad.write_text('{"cycles": 3}')
    with pytest.raises(SystemExit) as exit_info:
        rf.main(["--compare", str(bad), str(bad)])
    assert exit_info.value.code == 2
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(f"error: {bad}: not the --json output of this script")
    )
