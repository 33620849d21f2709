"""load_ir on untrusted IR: every tampering is a one-line ValidationError naming the node."""

from __future__ import annotations

import copy
import json

import pytest

from benchmarks.task import load_suite
from dsl import step
from dsl.errors import ValidationError
from dsl.step.trace import build
from tests.dsl.step.helpers import signature

SIG = signature(
    {"a": ("float32", ["M", 64]), "b": ("float32", [64, 32])},
    {"c": ("float32", ["M", 32])},
    {"M": None},
)


def gemm(a, b, tm=16):
    mt = step.cdiv(a.shape[0], tm)
    a_t = step.linear_offchip_load(a, (tm, 32), shape=(mt, 1, 2), stride=(2, 0, 1))
    b_t = step.linear_offchip_load(b, (32, 32), shape=(mt, 1, 2), stride=(0, 1, 1))
    return step.linear_offchip_store(step.accum([a_t, b_t], "matmul", rank=1), "c")


IR = build(gemm, SIG).to_json()  # with the nodes' output types, which some tests tamper with


def _load(mutate) -> str:
    ir = copy.deepcopy(IR)
    mutate(ir)
    with pytest.raises(ValidationError) as info:
        step.load_ir(json.loads(json.dumps(ir)))
    return str(info.value)


def test_valid_ir_round_trips() -> None:
    program = step.load_ir(json.loads(json.dumps(IR)))
    assert [n.op for n in program.nodes] == [
        "linear_offchip_load",
        "linear_offchip_load",
        "accum",
        "linear_offchip_store",
    ]
    assert program.to_json() == IR
    assert program.to_json(types=False) == step.trace(gemm, SIG)


@pytest.mark.parametrize(
    "task", [t for t in load_suite("step") if t.baseline is not None], ids=lambda t: t.name
)
def test_the_types_trace_leaves_out_are_those_load_ir_derives(task) -> None:
    """`trace` ships no output types (`Program.to_json`), so no build checks any more that
    the builder's rules and the loader's agree: this does, on every shipped baseline. The
    program loaded from the shipped IR equals the builder's, types included."""
    namespace: dict = {}
    exec(compile(task.baseline_source(), task.baseline, "exec"), namespace)
    built = build(namespace["kernel"], task.signature())
    shipped = json.loads(json.dumps(step.trace(namespace["kernel"], task.signature())))
    assert all("out" not in node for node in shipped["nodes"])
    assert step.load_ir(shipped).to_json() == built.to_json()


def test_wrong_dialect_or_version() -> None:
    assert _load(lambda ir: ir.update(version=99)) == "IR version 99 is not step version 1"
    assert "no longer reads" in _load(lambda ir: ir.update(version=0))
    assert _load(lambda ir: ir.update(dialect="sam")) == "IR dialect is 'sam', expected 'step'"
    with pytest.raises(ValidationError):
        step.load_ir([1, 2])


def test_unknown_op_and_function() -> None:
    assert "unknown op" in _load(lambda ir: ir["nodes"][2].update(op="teleport"))
    msg = _load(lambda ir: ir["nodes"][2]["attrs"].update(fn={"fn": "magic", "args": {}}))
    assert "node 2 (accum" in msg and "unknown accum function 'magic'" in msg


def test_stream_used_twice_or_never() -> None:
    def twice(ir):
        ir["nodes"].append(dict(ir["nodes"][3], id=4))

    msg = _load(twice)
    assert "output 0 of accum (node 2, line" in msg and "is consumed twice" in msg

    def never(ir):
        ir["nodes"].append(
            {
                "id": 4,
                "op": "linear_offchip_load",
                "in": [],
                "attrs": {"tensor": "b", "tile": [32, 32]},
            }
        )

    assert "output 0 of linear_offchip_load (node 4) is never consumed" in _load(never)


def test_forward_reference_is_rejected() -> None:
    def cycle(ir):
        ir["nodes"][2]["in"] = [[0, 0], [3, 0]]

    assert "inputs must name earlier nodes" in _load(cycle)


def test_tampered_output_type_is_caught() -> None:
    def tamper(ir):
        ir["nodes"][2]["out"][0]["elem"]["rows"] = 8

    assert "differ from the derived" in _load(tamper)


def test_shape_rule_reapplied_on_load() -> None:
    def bad_stride(ir):
        ir["nodes"][0]["attrs"]["stride"] = [2, 0]

    assert "node 0 (linear_offchip_load" in _load(bad_stride)

    def wrong_tile(ir):
        ir["nodes"][1]["attrs"]["tile"] = [16, 32]
        ir["nodes"][1].pop("out")

    assert "node 2 (accum" in _load(wrong_tile) and "inner dims differ" in _load(wrong_tile)


@pytest.mark.parametrize("attrs", [{"rank": "1"}, {"rank": 0}, {"rank": True}, {"bogus": 1}])
def test_malformed_attributes(attrs: dict) -> None:
    assert "node 2 (accum" in _load(lambda ir: ir["nodes"][2]["attrs"].update(attrs))


def test_output_must_be_stored() -> None:
    def drop_store(ir):
        ir["nodes"].pop()

    assert "never" in _load(drop_store)


def test_too_many_nodes() -> None:
    def bomb(ir):
        ir["nodes"] = ir["nodes"] * 10_000

    assert "limit" in _load(bomb)


def _copy_add(a, b, tm=16):
    mt = step.cdiv(a.shape[0], tm)
    a_t = step.linear_offchip_load(a, (tm, 32), shape=(mt, 1, 2), stride=(2, 0, 1))
    twice = step.map(step.copy(a_t), "add")
    b_t = step.linear_offchip_load(b, (32, 32), shape=(mt, 1, 2), stride=(0, 1, 1))
    return step.linear_offchip_store(step.accum([twice, b_t], "matmul", rank=1), "c")


def test_one_node_reading_the_same_output_twice() -> None:
    ir = step.trace(_copy_add, SIG)
    assert [n["op"] for n in ir["nodes"]][1:3] == ["copy", "map"]
    ir["nodes"][2]["in"] = [[1, 0], [1, 0]]  # the same port at both inputs of one map
    with pytest.raises(ValidationError, match=r"output 0 of copy \(node 1.*\) is consumed twice"):
        step.load_ir(ir)


def test_a_port_read_twice_is_reported_before_an_unread_one() -> None:
    def both(ir):
        unread = {"id": 4, "op": "linear_offchip_load", "in": [], "attrs": ir["nodes"][1]["attrs"]}
        ir["nodes"] += [unread, dict(ir["nodes"][3], id=5)]  # node 5 stores accum's output again

    msg = _load(both)
    assert "output 0 of accum (node 2, line" in msg and "is consumed twice" in msg


def test_port_references_must_be_pairs_of_ints() -> None:
    for bad in ([0], [0, 0, 0], [0, "0"], ["0", 0], [0.0, 0], [-1, 0], [0, 1], [2, 0], 0):
        msg = _load(lambda ir, bad=bad: ir["nodes"][2].update({"in": [bad, [1, 0]]}))
        assert "node 2 (accum" in msg and "bad reference" in msg, bad
