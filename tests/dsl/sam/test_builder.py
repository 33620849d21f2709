"""The SAM builder: typed streams, consumed-once, graph and tensor rules, one-line errors."""

from __future__ import annotations

import json

import pytest

from dsl import sam
from dsl.errors import ProgramError
from dsl.sam.primitives import SAM

SIG = {
    "inputs": [
        {"name": "B", "dtype": "float32", "shape": ["N", "M"], "format": "csr"},
        {"name": "c", "dtype": "float32", "shape": ["M"], "format": "dense"},
    ],
    "outputs": [{"name": "y", "dtype": "float32", "shape": ["N"]}],
    "dims": {"N": None, "M": None},
    "params": {"alpha": 2.0},
}


def spmv(B, c, **params):
    y = sam.output("y", format="dense")
    i, i_ref = B.scan(0)
    i, i_rep = sam.broadcast(i)
    j, bj_ref = B.scan(1, i_ref)
    _, cj_ref = c.locate(0, j, sam.repeat(sam.root(), sam.repeat_signal(i_rep)))
    prod = sam.alu("mul", B.load(bj_ref), c.load(cj_ref))
    y.write_level(0, i)
    y.write_vals(sam.alu("scalar_mul", sam.reduce(prod), scalar=params["alpha"]))


def trace_error(body) -> str:
    with pytest.raises(ProgramError) as info:
        sam.trace(body, SIG)
    return str(info.value)


def test_trace_gives_json_ir_that_loads_back():
    ir = sam.trace(spmv, SIG)
    assert ir["dialect"] == "sam" and ir["version"] == 1
    assert json.loads(json.dumps(ir)) == ir
    program = sam.load_ir(ir)
    assert [t.name for t in program.tensors.values()] == ["B", "c", "y"]
    assert program.tensors["B"].levels == ("dense", "compressed")
    ops = [n.op for n in program.graphs[0].nodes]
    assert ops.count("scan") == 2 and "locate" in ops and ops[-1] == "write_vals"


def test_handles_describe_their_tensor():
    seen = {}

    def k(B, c, **params):
        seen.update(shape=B.shape, fmt=B.format, order=B.mode_order, rank=c.rank)
        spmv(B, c, **params)

    sam.trace(k, SIG)
    assert seen == {"shape": ("N", "M"), "fmt": ("dense", "compressed"), "order": (0, 1), "rank": 1}


def test_ref_into_alu_is_rejected():
    def k(B, c, **params):
        _, ref = B.scan(0)
        sam.alu("exp", ref)

    assert trace_error(k) == "alu: port a: port 'a' needs a val stream, got ref"


def test_stkn_drop_keeps_the_kind_and_refuses_a_repeat_signal():
    def flat_refs(B, c, **params):
        i, ref = B.scan(0)
        sam.broadcast(sam.stkn_drop(ref))  # a ref stream stays a ref stream
        sam.stkn_drop(sam.repeat_signal(i))

    assert trace_error(flat_refs) == (
        "stkn_drop: port in: port 'in' needs a crd or ref or val stream, got repsig"
    )


def test_stream_consumed_twice():
    def k(B, c, **params):
        i, ref = B.scan(0)
        sam.repeat_signal(i)
        sam.repeat_signal(i)

    assert "already consumed by node" in trace_error(k)
    assert "sam.broadcast" in trace_error(k)


def test_bad_arguments_are_named():
    def unknown_op(B, c, **params):
        sam.alu("tanh", c.load(c.scan(0)[1]))

    assert "unknown ALU op 'tanh'" in trace_error(unknown_op)

    def no_scalar(B, c, **params):
        sam.alu("scalar_add", c.load(c.scan(0)[1]))

    assert "needs the scalar attribute" in trace_error(no_scalar)

    def level_needs_ref(B, c, **params):
        B.scan(1)

    assert "level 1 of 'B' needs the parent ref" in trace_error(level_needs_ref)

    def level_out_of_range(B, c, **params):
        B.scan(2, sam.root())

    assert "level 2 out of range for 'B'" in trace_error(level_out_of_range)

    def not_a_stream(B, c, **params):
        sam.reduce([1, 2])

    assert "reduce: input #0 must be a stream" in trace_error(not_a_stream)

    def one_pair(B, c, **params):
        sam.intersect(B.scan(0))

    assert "at least two (crd, payload) pairs" in trace_error(one_pair)

    def bad_spacc(B, c, **params):
        i, ref = B.scan(0)
        ref, ref2 = sam.broadcast(ref)
        sam.spacc1(ref, B.load(ref2))

    assert "port 'crd' needs a crd stream, got ref" in trace_error(bad_spacc)


def test_tensor_roles():
    def write_input(B, c, **params):
        i, _ = c.scan(0)
        c.write_level(0, i)

    assert "cannot write input tensor 'c'" in trace_error(write_input)

    def read_output(B, c, **params):
        y = sam.output("y", format="dense")
        y.scan(0)

    assert "cannot read output tensor 'y'" in trace_error(read_output)

    def unknown_output(B, c, **params):
        sam.output("z", format="dense")

    assert "the task has no output 'z'" in trace_error(unknown_output)

    def never_written(B, c, **params):
        pass

    assert "output 'y' was never declared" in trace_error(never_written)

    def partly_written(B, c, **params):
        y = sam.output("y", format="dense")
        i, _ = c.scan(0)
        y.write_level(0, i)

    assert "no writer for level(s) vals" in trace_error(partly_written)

    def bad_format(B, c, **params):
        sam.output("y", format="csr")

    assert "format 'csr' is for matrices" in trace_error(bad_format)


def test_graphs_and_intermediates():
    def crossing(B, c, **params):
        with sam.graph("a"):
            i, _ = c.scan(0)
        with sam.graph("b"):
            sam.repeat_signal(i)

    assert "streams cannot cross graphs" in trace_error(crossing)

    def read_too_early(B, c, **params):
        t = sam.tensor("t", [c.shape[0]], "dense")
        with sam.graph("a"):
            t.scan(0)

    assert "intermediate 't' is read before an earlier graph wrote it" in trace_error(
        read_too_early
    )

    def two_stage(B, c, **params):
        t = sam.tensor("t", [c.shape[0]], "dense")
        with sam.graph("copy"):
            i, ref = c.scan(0)
            t.write_level(0, i)
            t.write_vals(c.load(ref))
        with sam.graph("out"):
            y = sam.output("y", format="dense")
            i, ref = t.scan(0)
            y.write_level(0, i)
            y.write_vals(t.load(ref))

    sig = dict(SIG, outputs=[{"name": "y", "dtype": "float32", "shape": ["M"]}])
    program = sam.load_ir(sam.trace(two_stage, sig))
    assert [g.name for g in program.graphs] == ["copy", "out"]
    assert program.tensors["t"].role == "intermediate"


def test_with_layout_and_blocks():
    def k(B, c, **params):
        B = B.with_layout(format="dcsr", block=4)
        assert B.format == ("compressed", "compressed") and B.block == 4
        spmv(B, c, **params)

    program = sam.load_ir(sam.trace(k, SIG))
    assert program.tensors["B"].block == 4

    def late(B, c, **params):
        B.scan(0)
        B.with_layout(format="dcsr")

    assert "already read with its old layout" in trace_error(late)

    def vector_block(B, c, **params):
        c.with_layout(block=2)

    assert "block values need a matrix" in trace_error(vector_block)


def test_outside_trace():
    with pytest.raises(ProgramError, match="only inside a traced kernel"):
        sam.root()


def test_every_primitive_is_documented():
    reference = (__import__("pathlib").Path(sam.__file__).parent / "REFERENCE.md").read_text()
    names = {
        "root",
        "scan",
        "locate",
        "repeat_signal",
        "repeat",
        "intersect",
        "union",
        "load",
        "alu",
        "reduce",
        "spacc1",
        "spacc2",
        "crd_drop",
        "crd_hold",
        "val_drop",
        "stkn_drop",
        "empty_stkn_drop",
        "bv",
        "bv_chunk",
        "bv_drop",
        "intersect_bv",
        "scan_bv",
        "crdpt_convert",
        "crdpt_accumulate",
        "split",
        "flatten",
        "write_level",
        "write_vals",
        "broadcast",
        "fork",
        "join",
    }
    for name in names:
        assert f"`sam.{name}(" in reference, name
    assert set(SAM) <= names | {"spacc"}
