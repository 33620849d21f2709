"""Valid-looking but wrong programs: rewired streams, huge dims. The interpreter must answer
with a one-line ExecutionError / SimulationError naming a node, never crash or hang."""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest

from dsl import sam
from dsl.errors import ValidationError
from interpreter.errors import ExecutionError, SimulationError
from interpreter.sam import BACKEND
from interpreter.targets import load_target
from tests.interpreter.sam import programs as P

KERNELS = [
    (
        P.gustavson,
        P.signature([("B", ["N", "N"], "csr"), ("C", ["N", "N"], "csr")], [("X", ["N", "N"])]),
    ),
    (
        P.outer_product,
        P.signature([("B", ["N", "N"], "dcsc"), ("C", ["N", "N"], "dcsr")], [("X", ["N", "N"])]),
    ),
    (
        P.spmv_parallel,
        P.signature([("B", ["N", "N"], "csr"), ("C", ["N"], "dense")], [("y", ["N"])], lanes=2),
    ),
]


def _kinds(program) -> dict[tuple[int, str], str]:
    return {(n.id, name): kind for g in program.graphs for n in g.nodes for name, kind in n.outputs}


@pytest.mark.parametrize("which", range(len(KERNELS)))
def test_rewired_programs_fail_cleanly(which):
    kernel, sig = KERNELS[which]
    if kernel is P.spmv_parallel:
        sig = copy.deepcopy(sig)
        sig["inputs"][1]["name"] = "c"
    ir = sam.trace(kernel, sig)
    kinds = _kinds(sam.load_ir(ir))
    rng = random.Random(which)
    inputs = {
        "B": np.random.default_rng(1).random((6, 6)) * (np.eye(6) + np.eye(6, k=1)),
        "C": np.random.default_rng(2).random((6, 6)) * (np.eye(6) + np.eye(6, k=-2)),
        "c": np.ones(6),
    }
    outcomes = {"ok": 0, "error": 0}
    for _ in range(60):
        bad = copy.deepcopy(ir)
        slots = [(n, k) for n in bad["graphs"][0]["nodes"] for k in range(len(n["inputs"]))]
        (n1, k1), (n2, k2) = rng.sample(slots, 2)
        s1, s2 = tuple(n1["inputs"][k1]), tuple(n2["inputs"][k2])
        if kinds[s1] != kinds[s2]:
            continue
        n1["inputs"][k1], n2["inputs"][k2] = list(s2), list(s1)
        try:
            program = sam.load_ir(bad)
        except ValidationError:
            continue
        outs = {o["name"]: np.zeros([6] * len(o["shape"])) for o in sig["outputs"]}
        try:
            BACKEND.execute(
                program,
                {k: inputs[k] for k in program.tensors if program.tensors[k].role == "input"},
                outs,
                {"N": 6},
            )
            BACKEND.simulate(
                program,
                {k: inputs[k] for k in program.tensors if program.tensors[k].role == "input"},
                {"N": 6},
                load_target("sam_comal"),
            )
            outcomes["ok"] += 1
        except (ExecutionError, SimulationError) as exc:
            assert "\n" not in str(exc) and ("node" in str(exc) or "writers" in str(exc))
            outcomes["error"] += 1
    assert outcomes["error"] > 0


def test_stream_too_long_is_refused_before_it_is_built(monkeypatch):
    from interpreter.sam import rules

    monkeypatch.setattr(rules, "MAX_TOKENS", 1000)

    def copy(c, **params):
        y = sam.output("y", format="dense")
        i, ref = c.scan(0)
        y.write_level(0, i)
        y.write_vals(c.load(ref))

    sig = P.signature([("c", ["N"], "dense")], [("y", ["N"])])
    program = BACKEND.load(sam.trace(copy, sig))
    with pytest.raises(ExecutionError, match=r"node \d+ \(scan\): would emit 5,002 tokens"):
        BACKEND.execute(program, {"c": np.ones(5000)}, {"y": np.zeros(5000)}, {"N": 5000})


def test_block_stream_too_large_is_refused_before_it_is_built(monkeypatch):
    """A 16x16 block stream counts 256 values a token: a block size cannot buy its way past
    the stream limit (each load would otherwise allocate tokens x b² floats)."""
    from interpreter.sam import rules

    monkeypatch.setattr(rules, "MAX_TOKENS", 1500)

    def copy(B, **params):
        B.with_layout(format="dcsr", block=16)
        X = sam.output("X", format="dcsr", block=16)
        i, i_ref = B.scan(0)
        j, j_ref = B.scan(1, i_ref)
        X.write_level(0, i)
        X.write_level(1, j)
        X.write_vals(B.load(j_ref))

    sig = P.signature([("B", ["N", "N"], "dcsr")], [("X", ["N", "N"])])
    program = BACKEND.load(sam.trace(copy, sig))
    dense = np.ones((32, 32))
    with pytest.raises(
        ExecutionError, match=r"\(load\): would emit 7 tokens of 16x16 blocks \(1,792 values\)"
    ):
        BACKEND.execute(program, {"B": dense}, {"X": np.zeros((32, 32))}, {"N": 32})


def test_dense_storage_too_large_is_refused_before_it_is_allocated(monkeypatch):
    from interpreter.sam import fibertree

    monkeypatch.setattr(fibertree, "MAX_POSITIONS", 1000)

    def copy(c, **params):
        y = sam.output("y", format="dense")
        i, ref = c.scan(0)
        y.write_level(0, i)
        y.write_vals(c.load(ref))

    program = BACKEND.load(sam.trace(copy, P.signature([("c", ["N"], "dense")], [("y", ["N"])])))
    with pytest.raises(
        ExecutionError, match="tensor 'c': dense level 0 would hold 5,000 positions"
    ):
        BACKEND.execute(program, {"c": np.ones(5000)}, {"y": np.zeros(5000)}, {"N": 5000})
