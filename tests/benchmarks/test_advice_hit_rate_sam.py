"""The hit-rate script's SAM change: lanes read from the sentence, made through the builtin
compiler's `parallel` on the task's unfused spec (its baseline's configuration)."""

from __future__ import annotations

from benchmarks.perf.advice_hit_rate import sam_change
from benchmarks.task import load_suite

TASKS = {t.name: t for t in load_suite("sam")}
LANES = (
    "Critical path: 95% of 329 cycles wait for primitive steps, most in `sam.reduce(...)` (node"
    " 11 of graph 't'); it takes one step per token (248 steps): deal the outermost level over"
    " 4 fork/join lanes: `sam.fork` each of its reference streams ... Largest parts of the path:"
)


def test_lanes_over_the_named_graphs_outer_index() -> None:
    what, text = sam_change(TASKS["spmv_relu_bias"], LANES)
    assert what == "parallel i x4"
    assert text.count("sam.fork(") >= 1 and "4 lanes at i" in text


def test_advice_without_lanes_is_not_mechanical() -> None:
    writer = LANES.split(": deal")[0] + ", after the lanes join: only writing fewer tokens."
    assert sam_change(TASKS["spmv"], writer) is None


def test_the_older_sentence_reads_as_two_lanes() -> None:
    old = "node 11 (reduce) is busy 248 of 257 cycles (96%); fork/join lanes over its level split"
    assert sam_change(TASKS["spmv"], old)[0] == "parallel i x2"


def test_a_change_the_builtin_refuses_is_reported_not_built() -> None:
    """spgemm_outer sums over its outermost index k: lanes at i come too late."""
    what, text = sam_change(TASKS["spgemm_outer"], LANES.replace(" of graph 't'", ""))
    assert "the builtin refuses" in what and text == ""
