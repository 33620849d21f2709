"""Golden token sequences for every SAM primitive (research notes section 4 and
dsl/sam/REFERENCE.md), plus the one-line errors for misaligned or malformed inputs."""

from __future__ import annotations

import numpy as np
import pytest

from dsl.sam.ir import Node
from interpreter.errors import ExecutionError
from interpreter.sam.costs import Cost, cost_of
from tests.interpreter.sam.tokens import S0, S1, S2, S3, D, N, R, crd, run, tensor, toks, val

CSR = tensor("B", [[1, 0, 0], [2, 3, 4]], "csr")  # rows {0: [0], 1: [0, 1, 2]}
DCSR = tensor("B", [[0, 1, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]], "dcsr")  # rows {0: [1, 3], 2: [0]}


def test_root():
    assert toks(run("root", {})) == [0, D]


def test_dense_then_compressed_scan_of_csr():
    r = run("scan", {"tensor": "B", "level": 0}, crd(0, D), tensors=(CSR,))
    assert toks(r, 0) == [0, 1, S0, D] and toks(r, 1) == [0, 1, S0, D]
    r = run("scan", {"tensor": "B", "level": 1}, crd(0, 1, S0, D), tensors=(CSR,))
    assert toks(r, 0) == [0, S0, 0, 1, 2, S1, D]
    assert toks(r, 1) == [0, S0, 1, 2, 3, S1, D]


def test_compressed_scan_skips_empty_rows_of_dcsr():
    r = run("scan", {"tensor": "B", "level": 0}, crd(0, D), tensors=(DCSR,))
    assert toks(r, 0) == [0, 2, S0, D] and toks(r, 1) == [0, 1, S0, D]
    r = run("scan", {"tensor": "B", "level": 1}, crd(0, 1, S0, D), tensors=(DCSR,))
    assert toks(r, 0) == [1, 3, S0, 0, S1, D] and toks(r, 1) == [0, 1, S0, 2, S1, D]


def test_scan_bare_stop_and_empty_ref():
    # bare S0 (an empty outer fiber) -> S1; N scans as an empty fiber; merged S1 -> S2
    r = run("scan", {"tensor": "B", "level": 1}, crd(S0, 1, N, S1, D), tensors=(DCSR,))
    assert toks(r, 0) == [S1, 0, S0, S2, D] and toks(r, 1) == [S1, 2, S0, S2, D]


def test_scan_reference_out_of_range():
    with pytest.raises(ExecutionError, match=r"node 0 \(scan\): reference 5 out of range"):
        run("scan", {"tensor": "B", "level": 1}, crd(5, S0, D), tensors=(DCSR,))


def test_locate_dense_and_compressed():
    vec = tensor("c", [1, 2, 3, 4], "dense")
    r = run("locate", {"tensor": "c", "level": 0}, crd(1, 3, S0, D), crd(0, D), tensors=(vec,))
    assert toks(r, 0) == [1, 3, S0, D] and toks(r, 1) == [1, 3, S0, D]
    r = run(
        "locate",
        {"tensor": "B", "level": 1},
        crd(3, 0, S0, 0, S1, D),
        crd(0, 1, S0, D),
        tensors=(DCSR,),
    )
    assert toks(r, 1) == [1, N, S0, 2, S1, D]


def test_locate_rejects_crd_that_does_not_nest_under_refs():
    vec = tensor("c", [1, 2, 3, 4], "dense")
    with pytest.raises(ExecutionError, match="inner stream has 2 fibers but the outer"):
        run("locate", {"tensor": "c", "level": 0}, crd(1, S0, 3, S1, D), crd(0, D), tensors=(vec,))


def test_repeat_signal():
    r = run("repeat_signal", {}, crd(0, 2, S0, 1, S1, D))
    assert r.outputs[0].tokens(repsig=True) == [R, R, S0, R, S0, D]


def test_repeat_notes_example():
    r = run(
        "repeat",
        {},
        crd(0, 1, S0, 2, S0, 3, S1, D),
        crd(R, R, R, S0, R, R, R, S0, R, S0, R, R, S0, D),
    )
    assert toks(r) == [0, 0, 0, S0, 1, 1, 1, S1, 2, S1, 3, 3, S2, D]


def test_repeat_of_values_and_phantom():
    # a bare stop repeats as a raised stop and consumes one S
    r = run("repeat", {}, val(7, S0, S1, D), crd(R, R, S0, S0, D))
    assert toks(r) == [7.0, 7.0, S1, S2, D]


def test_repeat_signal_count_mismatch():
    with pytest.raises(ExecutionError, match="repeat signal has 1 fibers"):
        run("repeat", {}, crd(0, 1, S0, D), crd(R, S0, D))


def test_intersect_notes_example_with_payloads():
    r = run(
        "intersect",
        {"n": 2},
        crd(0, S0, 0, 1, 2, S1, D),
        crd(0, S0, 1, 2, 3, S1, D),
        crd(0, 1, 2, S0, 0, 1, 2, S1, D),
        crd(0, 1, 2, S0, 3, 4, 5, S1, D),
    )
    assert toks(r, 0) == [0, S0, 0, 1, 2, S1, D]
    assert toks(r, 1) == [0, S0, 1, 2, 3, S1, D]
    assert toks(r, 2) == [0, S0, 3, 4, 5, S1, D]


def test_three_way_intersect():
    r = run(
        "intersect",
        {"n": 3},
        crd(0, 2, 4, S0, D),
        crd(0, 1, 2, S0, D),
        crd(2, 4, S0, D),
        crd(0, 1, S0, D),
        crd(0, 2, 3, S0, D),
        crd(7, 8, 9, S0, D),
    )
    assert toks(r, 0) == [2, S0, D]
    assert [toks(r, k) for k in (1, 2, 3)] == [[1, S0, D], [0, S0, D], [8, S0, D]]


def test_union_reference_example():
    r = run(
        "union",
        {"n": 2},
        crd(0, 2, 3, 5, S0, D),
        crd(10, 11, 12, 13, S0, D),
        crd(0, 1, 3, 4, S0, D),
        crd(20, 21, 22, 23, S0, D),
    )
    assert toks(r, 0) == [0, 1, 2, 3, 4, 5, S0, D]
    assert toks(r, 1) == [10, N, 11, 12, N, 13, S0, D]
    assert toks(r, 2) == [20, 21, N, 22, 23, N, S0, D]


def test_joiner_errors():
    with pytest.raises(ExecutionError, match="crd1 has different fibers from crd0"):
        run(
            "intersect",
            {"n": 2},
            crd(0, S0, D),
            crd(0, S0, D),
            crd(0, S0, 1, S1, D),
            crd(0, S0, 1, S1, D),
        )
    with pytest.raises(ExecutionError, match="crd0 coordinates are not increasing"):
        run("union", {"n": 2}, crd(3, 1, S0, D), crd(0, 1, S0, D), crd(1, S0, D), crd(0, S0, D))
    with pytest.raises(ExecutionError, match="crd0/payload0: inputs have 3 and 2 tokens"):
        run("union", {"n": 2}, crd(3, S0, D), crd(0, D), crd(1, S0, D), crd(0, S0, D))


def test_load_with_empty():
    v = tensor("v", [5, 0, 7, 9], "compressed")  # stored values [5, 7, 9]
    assert toks(run("load", {"tensor": "v"}, crd(2, N, S0, 0, S1, D), tensors=(v,))) == [
        9.0,
        0.0,
        S0,
        5.0,
        S1,
        D,
    ]
    with pytest.raises(ExecutionError, match="reference out of range"):
        run("load", {"tensor": "v"}, crd(3, S0, D), tensors=(v,))


def test_alu_ops():
    assert toks(run("alu", {"op": "mul"}, val(2, N, S0, D), val(4, 5, S0, D))) == [8.0, 0.0, S0, D]
    assert toks(run("alu", {"op": "scalar_max", "scalar": 0.0}, val(-1, 3, S0, D))) == [
        0.0,
        3.0,
        S0,
        D,
    ]
    assert toks(run("alu", {"op": "sub"}, val(1, S0, 2, S1, D), val(3, S0, N, S1, D))) == [
        -2.0,
        S0,
        2.0,
        S1,
        D,
    ]
    out = toks(run("alu", {"op": "sigmoid"}, val(0, S0, D)))
    assert out == [0.5, S0, D]


def test_alu_misaligned_inputs():
    with pytest.raises(ExecutionError, match=r"node 0 \(alu\): inputs disagree at token 1"):
        run("alu", {"op": "add"}, val(1, S0, D), val(1, 2, D))


def test_reduce_notes_example():
    r = run("reduce", {"op": "add"}, val(5, 5, S0, 5, S0, 4, 8, S0, 4, 3, S0, 4, 3, S1, D))
    assert toks(r) == [10.0, 5.0, 12.0, 7.0, 7.0, S0, D]
    assert toks(run("reduce", {"op": "add"}, val(1, 2, S0, D))) == [3.0, D]
    assert toks(run("reduce", {"op": "max"}, val(1, 4, S0, S1, D))) == [4.0, 0.0, S0, D]


# Row sums recomputed under every j (order i, j, j2) of CSR rows {0: [0, 1], 1: [], 2: [0, 1]}
# with values 1 2 / - / 3 4: the j2 stream holds a phantom (the bare S1) for the empty row 1.
J2_VALS = (1, 2, S0, 1, 2, S1, S1, 3, 4, S0, 3, 4, S2, D)
J_VALS = (1, 2, S0, S0, 3, 4, S1, D)  # B(i, j), aligned with the j coordinates
SUMS = [3.0, 3.0, S0, 0.0, S0, 7.0, 7.0, S1, D]  # the phantom reduces to 0 like any empty fiber


def test_reduce_emits_a_value_for_a_phantom():
    # the reducer cannot tell the phantom from a real empty fiber: both arrive as a bare S1
    assert toks(run("reduce", {"op": "add"}, val(*J2_VALS))) == SUMS


def test_consumers_drop_a_reduced_phantom_value():
    out = [1 / 3, 2 / 3, S0, S0, 3 / 7, 4 / 7, S1, D]
    assert toks(run("alu", {"op": "div"}, val(*J_VALS), val(*SUMS))) == pytest.approx(out)
    assert toks(run("alu", {"op": "mul"}, val(*SUMS), val(*J_VALS))) == [
        3.0,
        6.0,
        S0,
        S0,
        21.0,
        28.0,
        S1,
        D,
    ]
    # both reduced: the phantom stays (the writer drops it)
    assert toks(run("alu", {"op": "add"}, val(*SUMS), val(*SUMS)))[3] == 0.0
    r = run(
        "union",
        {"n": 2},
        crd(0, 1, S0, S0, 0, 1, S1, D),
        val(*SUMS),
        crd(1, S0, S0, 0, S1, D),
        val(5, S0, S0, 6, S1, D),
    )
    assert toks(r, 0) == [0, 1, S0, S0, 0, 1, S1, D]
    assert toks(r, 1) == [3.0, 3.0, S0, S0, 7.0, 7.0, S1, D]
    assert toks(r, 2) == [N, 5.0, S0, S0, 6.0, N, S1, D]
    r = run("val_drop", {}, val(*SUMS), crd(0, 1, S0, S0, 0, 1, S1, D))
    assert toks(r, 0) == [3.0, 3.0, S0, S0, 7.0, 7.0, S1, D]
    # the dropped value is taken with its fiber's stop (step 3), not in a step of its own
    r = run("alu", {"op": "div"}, val(*J_VALS), val(*SUMS))
    assert r.plan.consume[0] is None
    assert r.plan.consume[1].tolist() == [0, 1, 2, 3, 3, 4, 5, 6, 7]
    assert r.plan.steps == 8


def test_only_a_lone_value_against_an_empty_fiber_is_a_phantom():
    with pytest.raises(ExecutionError, match=r"fiber 1 holds 0 and 2 items"):
        run("alu", {"op": "add"}, val(1, S0, S0, D), val(1, S0, 1, 2, S0, D))
    with pytest.raises(ExecutionError, match="token-aligned"):  # stop levels differ
        run("alu", {"op": "add"}, val(1, S0, S1, D), val(1, S0, 2, S0, D))
    with pytest.raises(ExecutionError, match=r"fiber 1 holds 0 and 1 items"):  # a crd
        run("val_drop", {}, val(S0, S0, D), crd(S0, 4, S0, D))
    with pytest.raises(ExecutionError, match=r"fiber 0 holds 2 and 1 items"):
        run("alu", {"op": "add"}, val(1, 2, S0, S1, D), val(1, S0, 3, 4, 5, S1, D))


def test_spacc1_reference_example():
    r = run(
        "spacc",
        {"order": 1},
        crd(0, 2, S0, 2, 3, S1, 1, S0, S2, D),
        val(1, 2, S0, 3, 4, S1, 5, S0, S2, D),
    )
    assert toks(r, 0) == [0, 2, 3, S0, 1, S1, D]
    assert toks(r, 1) == [1.0, 5.0, 4.0, S0, 5.0, S1, D]


def test_spacc2_reference_example():
    r = run(
        "spacc",
        {"order": 2},
        crd(0, 0, S0, 1, S1, 0, S0, S2, D),
        crd(1, 2, S0, 0, S1, 2, S0, S2, D),
        val(1, 1, S0, 1, S1, 1, S0, S2, D),
    )
    assert toks(r, 0) == [0, 1, S0, D]
    assert toks(r, 1) == [1, 2, S0, 0, S1, D]
    assert toks(r, 2) == [1.0, 2.0, S0, 1.0, S1, D]


def test_spacc2_with_no_entries_at_all():
    # outer-product SpGEMM with B all zero (sam/spgemm_outer, seed 3024): every j fiber is
    # empty, so the map never holds an entry; each flush is a lone stop, not an IndexError
    r = run("spacc", {"order": 2}, crd(S0, S1, S2, D), crd(S0, S1, S2, D), val(S0, S1, S2, D))
    assert [toks(r, k) for k in range(3)] == [[S0, D], [S1, D], [S1, D]]
    assert r.plan.emit[1].tolist() == [2, 3]
    # an empty group before a full one keeps its lone stop
    r = run(
        "spacc",
        {"order": 2},
        crd(S0, S2, 1, S0, S3, D),
        crd(S0, S2, 4, S0, S3, D),
        val(S0, S2, 2.5, S0, S3, D),
    )
    assert [toks(r, k) for k in range(3)] == [[S0, 1, S1, D], [S1, 4, S2, D], [S1, 2.5, S2, D]]


def test_spacc_needs_a_flush_stop():
    with pytest.raises(ExecutionError, match="no stop of level >= 1"):
        run("spacc", {"order": 1}, crd(0, S0, D), val(1, S0, D))


def test_crd_drop_notes_example_and_fully_dropped_group():
    r = run("crd_drop", {}, crd(0, 1, S0, D), crd(1, S0, S1, D))
    assert toks(r, 0) == [0, S0, D] and toks(r, 1) == [1, S1, D]
    r = run("crd_drop", {}, crd(0, 1, S0, D), crd(S0, S1, D))
    assert toks(r, 0) == [S0, D] and toks(r, 1) == [S1, D]
    r = run("crd_drop", {}, crd(0, 1, S0, 2, S1, D), crd(S0, 5, S1, S2, D))
    assert toks(r, 0) == [1, S0, S1, D] and toks(r, 1) == [5, S1, S2, D]


def test_crd_hold():
    r = run("crd_hold", {}, crd(0, 2, S0, D), crd(1, 3, S0, 0, S1, D))
    assert toks(r, 0) == [0, 0, S0, 2, S1, D] and toks(r, 1) == [1, 3, S0, 0, S1, D]


def test_val_drop():
    r = run("val_drop", {}, val(0, 3, S0, 0, S1, D), crd(1, 2, S0, 4, S1, D))
    assert toks(r, 0) == [3.0, S0, S1, D] and toks(r, 1) == [2, S0, S1, D]


def test_broadcast_copies():
    r = run("broadcast", {"n": 3}, crd(4, S0, D))
    assert [toks(r, k) for k in range(3)] == [[4, S0, D]] * 3


def test_fork_and_join():
    r = run("fork", {"lanes": 2}, crd(0, 1, 2, S0, 3, S1, D))
    assert toks(r, 0) == [0, 2, S0, 3, S1, D] and toks(r, 1) == [1, S0, S1, D]
    r = run(
        "join",
        {"lanes": 2, "depth": 0},
        crd(0, 1, 2, S0, 3, S1, D),
        val(10, 12, S0, 13, S1, D),
        val(11, S0, S1, D),
    )
    assert toks(r) == [10.0, 11.0, 12.0, S0, 13.0, S1, D]
    r = run(
        "join",
        {"lanes": 2, "depth": 1},
        crd(0, 1, 2, S0, D),
        crd(1, S0, 2, 3, S1, D),
        crd(4, 5, S1, D),
    )
    assert toks(r) == [1, S0, 4, 5, S0, 2, 3, S1, D]


def test_join_rejects_lanes_that_do_not_match_the_fork():
    with pytest.raises(
        ExecutionError, match="lane1 holds 2 values in fiber 0, the fork dealt it 1"
    ):
        run("join", {"lanes": 2, "depth": 0}, crd(0, 1, S0, D), val(1, S0, D), val(2, 3, S0, D))


def test_stream_without_done_is_rejected():
    with pytest.raises(ExecutionError, match="exactly one D"):
        run("repeat_signal", {}, crd(0, S0))


def test_block_load_and_matmul():
    a = np.arange(16, dtype=float).reshape(4, 4) + 1
    t = tensor("A", a, "dcsr", block=2)
    r = run("scan", {"tensor": "A", "level": 0}, crd(0, D), tensors=(t,))
    assert toks(r) == [0, 1, S0, D]
    loaded = run("load", {"tensor": "A"}, crd(0, 3, S0, D), tensors=(t,))
    blocks = loaded.outputs[0].val
    assert np.array_equal(blocks[0], a[:2, :2]) and np.array_equal(blocks[1], a[2:, 2:])
    assert cost_of(Node(0, "load", (), {"tensor": "A"}), loaded.outputs) == Cost(4, 1)
    prod = run("alu", {"op": "matmul"}, loaded.outputs[0], loaded.outputs[0])
    assert np.array_equal(prod.outputs[0].val[1], a[2:, 2:] @ a[2:, 2:])
    assert cost_of(Node(1, "alu", (), {"op": "matmul"}), prod.outputs) == Cost(3, 2)
    assert cost_of(Node(1, "alu", (), {"op": "add"}), prod.outputs) == Cost(4, 1)


def _steps(index, n):
    return list(range(n)) if index is None else index.tolist()


def test_golden_schedules():
    """When each primitive takes and emits each token (worked out by hand)."""
    r = run("scan", {"tensor": "B", "level": 1}, crd(0, 1, S0, D), tensors=(CSR,))
    assert r.plan.steps == 7 and r.plan.consume[0].tolist() == [0, 2, 5, 6]
    # keys 0, 2, 3 then the stop and D: one step each
    args = (crd(0, 2, S0, D), crd(0, 1, S0, D), crd(2, 3, S0, D), crd(0, 1, S0, D))
    r = run("intersect", {"n": 2}, *args)
    assert r.plan.steps == 5
    assert r.plan.consume[0].tolist() == [0, 1, 3, 4]
    assert r.plan.consume[2].tolist() == [1, 2, 3, 4]
    assert r.plan.emit[0].tolist() == [1, 3, 4]
    assert _steps(run("union", {"n": 2}, *args).plan.emit[0], 6) == list(range(6))
    # S1 costs one more step to emit S0 after the last sum
    r = run("reduce", {"op": "add"}, val(5, 5, S0, 5, S0, 4, 8, S0, 4, 3, S0, 4, 3, S1, D))
    assert r.plan.consume[0].tolist() == list(range(14)) + [15]
    assert r.plan.emit[0].tolist() == [2, 4, 7, 10, 13, 14, 15]
    # a flush emits its entries and stop one per step, starting at the flushing stop
    r = run(
        "spacc",
        {"order": 1},
        crd(0, 2, S0, 2, 3, S1, 1, S0, S2, D),
        val(1, 2, S0, 3, 4, S1, 5, S0, S2, D),
    )
    assert r.plan.consume[0].tolist() == [0, 1, 2, 3, 4, 5, 9, 10, 11, 13]
    assert r.plan.emit[0].tolist() == [5, 6, 7, 8, 11, 12, 13]
    # the repeater takes a ref at the first token of its fiber, a merged stop at its end
    r = run(
        "repeat",
        {},
        crd(0, 1, S0, 2, S0, 3, S1, D),
        crd(R, R, R, S0, R, R, R, S0, R, S0, R, R, S0, D),
    )
    assert r.plan.consume[0].tolist() == [0, 4, 7, 8, 9, 10, 12, 13]


@pytest.mark.parametrize(
    "tokens",
    [  # the inputs of the public SAM simulator's test_stkn_drop (sam/sim/test/primitives)
        (0, 1, S0, D),
        (1, S0, S1, D),
        (1, S0, 1, S1, D),
        (0, 1, 2, 3, S0, D),
        (1, S0, 1, S0, S0, 1, S1, D),
        (0, 1, 3, S0, D),
    ],
)
def test_stkn_drop_matches_sam_golden(tokens):
    """SAM's gold: the input without its stop tokens; one step per input token, emitting
    only at the steps that take a kept token."""
    r = run("stkn_drop", {}, crd(*tokens))
    assert toks(r) == [t for t in tokens if not isinstance(t, type(S0))]
    assert r.plan.steps == len(tokens)
    kept = [k for k, t in enumerate(tokens) if not isinstance(t, type(S0))]
    assert r.plan.consume == [None] and r.plan.emit[0].tolist() == kept


def test_stkn_drop_keeps_empties_and_values():
    r = run("stkn_drop", {}, val(2.5, N, S0, 4.0, S1, D))
    assert toks(r) == [2.5, N, 4.0, D]
    assert cost_of(Node(0, "stkn_drop", (), {}), r.outputs) == Cost(1, 1)
