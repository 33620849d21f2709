"""The primitives added for SAM conformance (split, flatten, empty_stkn_drop, bv, bv_chunk,
crdpt_accumulate, crdpt_convert) inside real programs, timed, and their one-line errors.
Their golden streams are in test_sam_conformance.py."""

from __future__ import annotations

import numpy as np
import pytest

from dsl import sam
from dsl.errors import ProgramError
from interpreter.errors import ExecutionError
from interpreter.sam import BACKEND
from interpreter.sam.cycles import time_graph
from interpreter.sam.execute import run_program
from interpreter.sam.simulate import simulate
from interpreter.targets import load_target
from tests.interpreter.sam import programs as P
from tests.interpreter.sam.tokens import S0, S1, D, crd, run, toks, val

COMAL = load_target("sam_comal")
SIG = P.signature([("B", ["N", "M"], "csr")], [("X", ["N", "M"])])


def tiled_copy(B, **params):
    """X = B, with B's column coordinates split into tiles of 3 and flattened back."""
    X = sam.output("X", format="csr")
    i, i_ref = B.scan(0)
    j, j_ref = B.scan(1, i_ref)
    outer, inner = sam.split(j, 3)
    X.write_level(0, i)
    X.write_level(1, sam.flatten(outer, inner, 3))
    X.write_vals(B.load(j_ref))


def test_split_then_flatten_copies_a_matrix_and_is_timed():
    rng = np.random.default_rng(7)
    B = rng.random((6, 10)) * (rng.random((6, 10)) < 0.4)
    B[2] = 0  # an empty row: a bare stop through split and flatten
    program = BACKEND.load(sam.trace(tiled_copy, SIG))
    out = {"X": np.full((6, 10), np.nan)}
    BACKEND.execute(program, {"B": B}, out, {"N": 6, "M": 10})
    assert np.array_equal(out["X"], B)
    report = simulate(program, {"B": B}, {"N": 6, "M": 10}, COMAL)
    _, runs = run_program(program, {"B": B}, {"N": 6, "M": 10})
    free = time_graph(runs[0])
    assert report.cycles == free.cycles
    for depth in (2, 4):  # bounded FIFOs only ever slow it down
        bounded = time_graph(runs[0], fifo_depth=depth)
        assert all((bounded.times[k] >= free.times[k]).all() for k in free.times)


def test_split_by_hand_schedule():
    """crd 0 2 3 S0 D, factor 2: inner 0 S0 2 3 S1 D takes 6 steps; the S0 before tile 1
    costs a step, so 2 is taken at step 2; outer 0 1 S0 D leaves with 0, 2 and the stops."""
    r = run("split", {"factor": 2}, crd(0, 2, 3, S0, D))
    assert toks(r, 0) == [0, 1, S0, D] and toks(r, 1) == [0, S0, 0, 1, S1, D]
    assert r.plan.steps == 6
    assert r.plan.consume[0].tolist() == [0, 2, 3, 4, 5]
    assert r.plan.emit[0].tolist() == [0, 2, 4, 5]


def test_empty_stkn_drop_schedule():
    """A run's stop leaves when the token after it arrives; that token one step later."""
    r = run("empty_stkn_drop", {}, val(S0, 1.5, S0, S1, 2.5, S0, D))
    assert toks(r) == [1.5, S1, 2.5, S0, D]
    assert r.plan.consume[0].tolist() == [0, 1, 2, 3, 4, 6, 7]
    assert r.plan.emit[0].tolist() == [1, 4, 5, 7, 8]


@pytest.mark.parametrize(
    "op,attrs,streams,message",
    [
        ("split", {"factor": 2}, [crd(3, 1, S0, D)], "coordinates decrease at token 1"),
        ("split", {"factor": 2}, [crd(-1, S0, D)], "negative coordinate -1"),
        (
            "flatten",
            {"factor": 2},
            [crd(0, S0, D), crd(3, S1, D)],
            "inner coordinate 3 is not below the factor 2",
        ),
        ("bv", {}, [crd(63, S0, D)], "coordinate 63 does not fit a 63-bit vector"),
        ("bv", {}, [crd(1, D)], "the last coordinates are not closed by a stop"),
        (
            "bv_chunk",
            {"width": 2, "size": 4},
            [crd(0b10000, S0, D)],
            "a mask has bits at or above size 4",
        ),
        (
            "crdpt_convert",
            {},
            [crd(0, 1, D), crd(5, D)],
            "2 outer points but 1 inner ones",
        ),
        (
            "crdpt_accumulate",
            {},
            [crd(0, S0, D), crd(0, S0, D), val(1, S0, D)],
            "outer token 1 is not a point",
        ),
        (
            "bv_drop",
            {},
            [crd(0b11, S0, D), crd(1, S0, D)],
            "the inner stream has 1 fibers, the outer masks own 2",
        ),
        (
            "intersect_bv",
            {},
            [crd(1, S0, D), crd(0, S0, D), crd(1, D), crd(0, D)],
            "bv1/bv2 are not token-aligned",
        ),
    ],
)
def test_one_line_errors(op, attrs, streams, message):
    with pytest.raises(ExecutionError, match=message) as info:
        run(op, attrs, *streams)
    assert "\n" not in str(info.value)


def test_builder_checks_kinds_and_attributes():
    def bad_factor(B, **params):
        i, _ = B.scan(0)
        sam.split(i, 0)

    def bv_into_alu(B, **params):
        i, _ = B.scan(0)
        sam.alu("exp", sam.bv(i))

    def narrow_chunks(B, **params):
        i, _ = B.scan(0)
        sam.bv_chunk(sam.bv(i), width=8, size=4)

    errors = []
    for body in (bad_factor, bv_into_alu, narrow_chunks):
        with pytest.raises(ProgramError) as info:
            sam.trace(body, SIG)
        errors.append(str(info.value))
    assert errors == [
        "split: port factor: factor must be a positive int, got 0",
        "alu: port a: port 'a' needs a val stream, got bv",
        "bv_chunk: port width: bv_chunk needs 1 <= width <= size <= 63, got width 8, size 4",
    ]
