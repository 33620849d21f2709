"""The guardian's worked examples must be true in their dialect: the "Wrong" snippet is
refused by the dialect's builders for using a stream twice, the "Right" one builds."""

from __future__ import annotations

import importlib
import textwrap

import pytest

from agents.prompts.builder import TEMPLATES
from dsl.errors import ProgramError

STEP_SIGNATURE = {
    "dialect": "step",
    "inputs": [{"name": "x", "dtype": "float32", "shape": ["M", "N"]}],
    "outputs": [{"name": "y", "dtype": "float32", "shape": ["M", "N"]}],
    "dims": {"M": None, "N": 128},
    "params": {},
}
SAM_SIGNATURE = {
    "dialect": "sam",
    "inputs": [
        {"name": "B", "dtype": "float32", "shape": ["M", "N"], "format": "csr"},
        {"name": "c", "dtype": "float32", "shape": ["N"], "format": "dense"},
    ],
    "outputs": [{"name": "y", "dtype": "float32", "shape": ["M"], "format": "dense"}],
    "dims": {"M": None, "N": None},
    "params": {},
}
CASES = {
    "step": (
        "def kernel(x):\n",
        "    return step.linear_offchip_store(y, 'y')\n",
        STEP_SIGNATURE,
        "use step.copy",
    ),
    "sam": (
        "def kernel(B, c, **params):\n    y = sam.output('y', format='dense')\n",
        "    j, bj_ref = B.scan(1, i_ref)\n"
        "    _, cj_ref = c.locate(0, j, c_root)\n"
        "    y.write_vals(sam.reduce(sam.alu('mul', B.load(bj_ref), c.load(cj_ref))))\n",
        SAM_SIGNATURE,
        "fan out with sam.broadcast",
    ),
}


def _snippets(dialect: str) -> tuple[str, str]:
    text = (TEMPLATES / f"guardian_{dialect}.md").read_text()
    wrong = text.split("Wrong", 1)[1].split("\n", 1)[1].split("   Right:", 1)[0]
    right = text.split("Right:", 1)[1].split("\n", 1)[1]
    return textwrap.dedent(wrong), textwrap.dedent(right)


def _build(dialect: str, snippet: str) -> dict:
    head, tail, signature, _ = CASES[dialect]
    source = f"from dsl import {dialect}\n\n{head}{textwrap.indent(snippet, '    ')}{tail}"
    namespace: dict = {}
    exec(compile(source, f"<guardian {dialect}>", "exec"), namespace)  # our own example text
    return importlib.import_module(f"dsl.{dialect}").trace(namespace["kernel"], signature)


@pytest.mark.parametrize("dialect", sorted(CASES))
def test_worked_examples_are_true(dialect):
    wrong, right = _snippets(dialect)
    assert _build(dialect, right)["dialect"] == dialect
    with pytest.raises(ProgramError, match=CASES[dialect][3]):
        _build(dialect, wrong)
