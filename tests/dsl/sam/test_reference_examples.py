"""The worked examples of dsl/sam/REFERENCE.md run as written and compute the right thing."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dsl import sam
from interpreter.sam import BACKEND

REFERENCE = (Path(sam.__file__).parent / "REFERENCE.md").read_text()


def examples() -> dict[str, str]:
    found = {}
    for title, body in re.findall(r"^## (.+?)\n\n```python\n(.*?)```", REFERENCE, re.M | re.S):
        if "def kernel" in body:
            found[title] = body
    return found


def _sig(inputs, outputs):
    return {
        "inputs": [{"name": n, "dtype": "float32", "shape": s, "format": f} for n, s, f in inputs],
        "outputs": [{"name": n, "dtype": "float32", "shape": s} for n, s in outputs],
        "dims": {"N": None, "K": None, "M": None},
        "params": {},
    }


RNG = np.random.default_rng(0)
B = RNG.random((7, 5)) * (RNG.random((7, 5)) < 0.4)
C = RNG.random((5, 6)) * (RNG.random((5, 6)) < 0.4)
c = RNG.uniform(-1, 1, 5)
DIMS = {"N": 7, "K": 5, "M": 6}
SPMV = _sig([("B", ["N", "K"], "csr"), ("c", ["K"], "dense")], [("y", ["N"])])
CASES = {
    "SpMV": (SPMV, {"B": B, "c": c}, "y", B @ c),
    "Gustavson": (
        _sig([("B", ["N", "K"], "csr"), ("C", ["K", "M"], "csr")], [("X", ["N", "M"])]),
        {"B": B, "C": C},
        "X",
        B @ C,
    ),
    "unfused": (SPMV, {"B": B, "c": c}, "y", np.maximum(B @ c, 0)),
    "Parallel": (SPMV, {"B": B, "c": c}, "y", B @ c),
}


def test_every_worked_example_is_checked():
    titles = list(examples())
    assert len(titles) == 4
    assert all(any(key in title for key in CASES) for title in titles)


@pytest.mark.parametrize("title", list(examples()))
def test_worked_example(title):
    key = next(k for k in CASES if k in title)
    sig, inputs, out_name, want = CASES[key]
    scope: dict = {}
    exec(compile(examples()[title], f"REFERENCE.md: {title}", "exec"), scope)
    program = BACKEND.load(sam.trace(scope["kernel"], sig))
    out = {out_name: np.full(want.shape, np.nan)}
    BACKEND.execute(program, inputs, out, DIMS)
    np.testing.assert_allclose(out[out_name], want, atol=1e-12)
