"""load_ir: untrusted IR is parsed and checked; every fault is a one-line ValidationError
naming the node, its op and the port."""

from __future__ import annotations

import copy
import random

import pytest

from dsl import sam
from dsl.errors import ValidationError
from tests.dsl.sam.test_builder import SIG, spmv


def good() -> dict:
    return sam.trace(spmv, SIG)


def node_of(ir: dict, op: str) -> dict:
    return next(n for n in ir["graphs"][0]["nodes"] if n["op"] == op)


def error(ir) -> str:
    with pytest.raises(ValidationError) as info:
        sam.load_ir(ir)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_top_level():
    assert error([]) == "IR must be a JSON object"
    assert "expected 'sam'" in error(dict(good(), dialect="step"))
    assert error(dict(good(), version=7)) == "IR version 7 is not sam version 1"
    assert error(dict(good(), version=0)) == (
        "IR is sam version 0, which this build no longer reads (it reads version 1);"
        " rebuild the program from its source"
    )
    assert "'graphs' must be a non-empty list" in error(dict(good(), graphs=[]))
    assert "'tensors' must be a list" in error(dict(good(), tensors={}))


def test_tensor_declarations():
    ir = good()
    ir["tensors"][0]["format"] = ["dense", "sparse"]
    assert "tensor 'B': level format 'sparse'" in error(ir)
    ir = good()
    ir["tensors"][0]["mode_order"] = [0, 0]
    assert "not a permutation" in error(ir)
    ir = good()
    ir["tensors"][0]["shape"] = ["N", -3]
    assert "shape entries are dim names or ints in 1..16777216, got -3" in error(ir)
    ir = good()
    ir["tensors"].append(ir["tensors"][0])
    assert "declared twice" in error(ir)
    ir = good()
    ir["tensors"][0]["secret"] = 1
    assert "unknown keys ['secret']" in error(ir)


def test_wiring_faults_name_node_and_port():
    ir = good()
    alu = node_of(ir, "alu")
    alu["inputs"][0] = [node_of(ir, "locate")["id"], "crd"]  # the unused crd output
    msg = error(ir)
    assert (
        msg.startswith(f"node {alu['id']} (alu) port a:") and "needs a val stream, got crd" in msg
    )
    ir = good()
    node_of(ir, "alu")["inputs"][0] = [0, "nope"]
    assert "node 0 has no output port 'nope'" in error(ir)
    ir = good()
    first = ir["graphs"][0]["nodes"][1]
    first["inputs"] = [[99, "ref"]]
    assert "input from node 99, which is not an earlier node" in error(ir)
    ir = good()
    nodes = ir["graphs"][0]["nodes"]
    nodes[2]["inputs"] = copy.deepcopy(nodes[1]["inputs"])
    assert "is already consumed by node" in error(ir)
    ir = good()
    ir["graphs"][0]["nodes"][3]["id"] = 0
    assert "duplicate node id" in error(ir)


def test_node_faults():
    ir = good()
    ir["graphs"][0]["nodes"][0]["op"] = "teleport"
    assert "unknown primitive 'teleport'" in error(ir)
    ir = good()
    node_of(ir, "scan")["attrs"]["level"] = True
    assert "attribute 'level' must be int" in error(ir)
    ir = good()
    node_of(ir, "scan")["attrs"]["color"] = "red"
    assert "unknown attribute 'color'" in error(ir)
    ir = good()
    del node_of(ir, "reduce")["attrs"]["op"]
    assert "missing attribute 'op'" in error(ir)
    ir = good()
    node_of(ir, "alu")["inputs"].append([node_of(ir, "locate")["id"], "crd"])
    assert "alu takes 2 inputs (a, b), got 3" in error(ir)
    ir = good()
    node_of(ir, "scan")["attrs"]["tensor"] = "Z"
    assert "unknown tensor 'Z'" in error(ir)
    ir = good()
    node_of(ir, "broadcast")["attrs"]["n"] = 10**7
    assert "broadcast needs 2 <= n <= 64, got 10000000" in error(ir)
    ir = good()
    ir["graphs"][0]["nodes"][1]["inputs"] = "everything"
    assert "inputs must be a list" in error(ir)


def test_writer_faults():
    ir = good()
    ir["graphs"][0]["nodes"] = [n for n in ir["graphs"][0]["nodes"] if n["op"] != "write_vals"]
    assert "tensor 'y': no writer for level(s) vals" in error(ir)
    ir = good()
    node_of(ir, "write_level")["attrs"]["tensor"] = "c"
    assert "cannot write input tensor 'c'" in error(ir)


def test_random_mutations_never_escape_as_other_errors():
    base = good()
    rng = random.Random(0)
    junk = [None, -1, 0, 1, 2.5, "x", "ref", [], {}, [0, "ref"], True, 10**9]
    for _ in range(400):
        ir = copy.deepcopy(base)
        nodes = ir["graphs"][0]["nodes"]
        node = rng.choice(nodes)
        field = rng.choice(["id", "op", "attrs", "inputs", "drop", "attr", "input"])
        if field == "drop":
            nodes.remove(node)
        elif field == "attr" and node["attrs"]:
            node["attrs"][rng.choice(list(node["attrs"]))] = rng.choice(junk)
        elif field == "input" and node["inputs"]:
            node["inputs"][rng.randrange(len(node["inputs"]))] = rng.choice(junk)
        else:
            node[field if field in node else "op"] = rng.choice(junk)
        try:
            sam.load_ir(ir)
        except ValidationError as exc:
            assert "\n" not in str(exc)
