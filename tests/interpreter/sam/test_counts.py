"""Counts apart from values and timing: hand-counted FLOPs, reads and words of a small
program, the floor they give at the target's full budget, and the two facts that make that
floor sound: a primitive's `tokens` never exceed its steps, and its `words` are exactly
the memory words the HBM model moves for it."""

from __future__ import annotations

import numpy as np
import pytest

from dsl import sam
from interpreter.sam import BACKEND
from interpreter.sam.counts import count_graph, counts_of
from interpreter.sam.execute import load_inputs, run_graphs
from interpreter.sam.simulate import simulate
from interpreter.sam.streams import DATA
from interpreter.targets import load_target
from tests.interpreter.sam import programs as P
from tests.interpreter.sam.test_timing import CASES

COMAL = load_target("sam_comal")
COMAL_HBM = load_target("sam_comal_hbm")


def dot(a, b, **params):
    y = sam.output("y", format="dense")
    ai, a_ref = a.scan(0)
    bi, b_ref = b.scan(0)
    _, ar, br = sam.intersect((ai, a_ref), (bi, b_ref))
    y.write_vals(sam.reduce(sam.alu("mul", a.load(ar), b.load(br))))


DOT_SIG = P.signature([("a", [4], "compressed"), ("b", [4], "compressed")], [("y", [])])
DOT_INPUTS = {"a": np.array([1.0, 0, 2, 0]), "b": np.array([0, 0, 3.0, 4])}


def test_sparse_dot_product_counted_by_hand():
    """a = {0: 1, 2: 2}, b = {2: 3, 3: 4}. Each scan opens one fiber (2 seg words) and
    reads 2 coordinates; the intersect keeps coordinate 2, so each load reads one value;
    the multiply and the reducer do one operation each; y's one value is written once.
    The busiest streams are the scans' and the intersect's inputs (2 crds, S0, D = 4
    tokens): at one token per cycle over the chip's 16 lanes the floor is 4 / 16."""
    program = BACKEND.load(sam.trace(dot, DOT_SIG))
    report = simulate(program, DOT_INPUTS, {}, COMAL)
    m = report.metrics
    assert (m["seg_reads"], m["crd_reads"], m["val_reads"]) == (4, 4, 2)
    assert (m["flops"], m["val_writes"], m["memory_words"]) == (2, 1, 11)
    assert report.floor_cycles == 4 / 16
    # with the HBM model: the 11 words moved (4 per scan, one per load, one written) on 8
    # channels at II 2 after a 14-cycle start-up: 14 + 2 * 2 = 18 cycles
    hbm = simulate(program, DOT_INPUTS, {}, COMAL_HBM)
    assert hbm.floor_cycles == 18
    assert hbm.cycles >= hbm.floor_cycles


def test_block_matmul_counts_two_b_cubed_per_block_product():
    """A block matmul of b x b blocks is 2b³ FLOPs per block pair (b³ multiply-adds)."""
    kernel, sig, inputs, dims = CASES[6]
    program = BACKEND.load(sam.trace(kernel, sig))
    runs = run_graphs(program, load_inputs(program, inputs, dims), dims)
    matmuls = [
        (r, n) for r in runs for n in r.graph.nodes if str(n.attrs.get("op")).startswith("matmul")
    ]
    assert matmuls
    for run, node in matmuls:
        out = run.results[node.id].outputs[0]
        b = out.val.shape[1]
        products = int(np.count_nonzero(out.ctl == DATA))
        counted = counts_of(node, run.inputs[node.id], [out], program.tensors)
        assert b > 1 and products > 0 and counted["flops"] == products * 2 * b**3


@pytest.mark.parametrize("case", range(len(CASES)))
def test_counts_bound_the_steps_and_match_the_memory_model(case):
    """For every node of every test program: `tokens` <= the steps its plan takes (so the
    floor never exceeds the cycles), and `words` == the memory words its plan moves."""
    kernel, sig, inputs, dims = CASES[case]
    program = BACKEND.load(sam.trace(kernel, sig))
    runs = run_graphs(program, load_inputs(program, inputs, dims), dims, memory_steps=True)
    for run in runs:
        counted = count_graph(run, program.tensors)
        for node in run.graph.nodes:
            plan = run.results[node.id].plan
            words = 0 if plan.memory is None else len(plan.memory)
            assert counted.nodes[node.id]["tokens"] <= plan.steps, node.label()
            assert counted.nodes[node.id].get("words", 0) == words, node.label()
    for target in (COMAL, COMAL_HBM):
        report = simulate(program, inputs, dims, target)
        assert 0 < report.floor_cycles <= report.cycles
