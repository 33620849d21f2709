"""REFERENCE.md is what models read: its examples must trace, and it must cover the library."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dsl import step
from dsl.step.functions import FUNCTIONS
from dsl.step.ops import OPS
from tests.dsl.step.helpers import signature

REFERENCE = (Path(step.__file__).parent / "REFERENCE.md").read_text()
EXAMPLES = re.findall(r"```python\n(.*?)```", REFERENCE, re.S)

SIGNATURES = {
    "a, b,": signature(
        {"a": ("float32", ["M", "K"]), "b": ("float32", ["K", "N"])},
        {"c": ("float32", ["M", "N"])},
        {"M": None, "K": 256, "N": 128},
    ),
    "x, tm": signature({"x": ("float32", ["M", 128])}, {"y": ("float32", ["M", 128])}, {"M": None}),
    "kv, lens": signature(
        {"kv": ("float32", ["B", 16, 8]), "lens": ("int64", ["B"])},
        {"y": ("float32", ["B", 8])},
        {"B": None},
    ),
    "x, ids": signature(
        {
            "x": ("float32", ["B", 64]),
            "ids": ("int64", ["B", 2]),
            "w1": ("float32", [8, 64, 256]),
            "w3": ("float32", [8, 64, 256]),
            "w2": ("float32", [8, 256, 64]),
        },
        {"y": ("float32", ["B", 64])},
        {"B": None},
    ),
}


def _signature_for(code: str) -> dict:
    header = re.search(r"def kernel\((.*?)\)", code).group(1)
    for key, sig in SIGNATURES.items():
        if header.startswith(key):
            return sig
    raise AssertionError(f"no signature for example kernel({header})")


@pytest.mark.parametrize("code", [c for c in EXAMPLES if "def kernel" in c and "..." not in c])
def test_reference_examples_trace_and_validate(code: str) -> None:
    scope: dict = {}
    exec(compile("from dsl import step\n" + code, "<REFERENCE.md>", "exec"), scope)
    ir = step.trace(scope["kernel"], _signature_for(code))
    program = step.load_ir(json.loads(json.dumps(ir)))
    assert program.nodes[-1].op.endswith("offchip_store") or any(
        n.op.endswith("offchip_store") for n in program.nodes
    )


def test_reference_documents_every_op_and_function() -> None:
    for name in OPS:
        assert f"**`{name}(" in REFERENCE, f"op {name} missing from REFERENCE.md"
    for decl in FUNCTIONS.values():
        assert f"`{decl.name}" in REFERENCE, f"function {decl.name} missing from REFERENCE.md"


def test_every_op_and_function_has_a_doc() -> None:
    assert all(d.doc for d in OPS.values())
    assert all(d.doc for d in FUNCTIONS.values())
