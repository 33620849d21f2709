"""Our Comal-style cycle counts on the graphs of the SAM anchor (research/sam_sim_anchor.md)
stay within 1% of what the public SAM simulator counted, and the outputs match scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from benchmarks.perf.sam_sim_speed import ANCHOR, make_case
from dsl import sam
from interpreter.sam import BACKEND
from interpreter.sam.simulate import simulate
from interpreter.targets import load_target


@pytest.mark.parametrize("app", ["spmv", "add", "spgemm"])
def test_cycles_close_to_sam_at_n1000(app):
    kernel, sig, inputs, out_name, ref = make_case(app, 1000, 0.01)
    program = BACKEND.load(sam.trace(kernel, sig))
    dims = {"N": 1000}
    out = {out_name: np.full((1000,) if app == "spmv" else (1000, 1000), np.nan)}
    BACKEND.execute(program, inputs, out, dims)
    np.testing.assert_allclose(out[out_name], ref.toarray() if sp.issparse(ref) else ref)
    cycles = simulate(program, inputs, dims, load_target("sam_comal")).cycles
    sam_cycles, _ = ANCHOR[(app, 1000, 0.01)]
    assert abs(cycles - sam_cycles) / sam_cycles < 0.01
