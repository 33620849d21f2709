"""Tunable parameter declarations (`dsl.core.params`), the same in the three dialects.

Programs here are written against the real dialect API and traced the way the sandbox does;
each bad declaration must be refused in one line naming the parameter or constraint.
"""

from __future__ import annotations

import pytest

from dsl import dae, sam, step
from dsl.core.params import IR_KEY, bind, declaration_from_json, tunable
from dsl.errors import ProgramError

STEP_SIGNATURE = {
    "dialect": "step",
    "inputs": [{"name": "x", "dtype": "float32", "shape": ["M", 64]}],
    "outputs": [{"name": "y", "dtype": "float32", "shape": ["M", 64]}],
    "dims": {"M": None},
    "params": {},
}


@step.tunable(
    tile=[8, 16, 32, 64],
    order=step.tunable.permutation("i", "j"),
    constraints=["tile <= 32 or order[0] == 'i'"],
)
def step_kernel(x, tile=16, order=("j", "i")):
    t = step.linear_offchip_load(x, (tile, 64))
    return step.linear_offchip_store(step.map(t, "exp"), "y")


def test_step_ir_carries_domain_and_default_values():
    ir = step.trace(step_kernel, STEP_SIGNATURE)
    section = ir[IR_KEY]
    assert section["params"]["tile"] == {"type": "ordinal", "values": [8, 16, 32, 64], "log": True}
    assert section["params"]["order"] == {"type": "permutation", "items": ["i", "j"]}
    assert section["values"] == {"tile": 16, "order": ["j", "i"]}
    assert section["constraints"] == ["tile <= 32 or order[0] == 'i'"]
    step.load_ir(ir)  # the trusted loader accepts the section


def test_given_values_override_defaults_and_reach_the_kernel():
    ir = step.trace(step_kernel, {**STEP_SIGNATURE, "params": {"tile": 32, "order": ["i", "j"]}})
    assert ir[IR_KEY]["values"] == {"tile": 32, "order": ["i", "j"]}
    load = next(n for n in ir["nodes"] if n["op"] == "linear_offchip_load")
    assert 32 in load["attrs"]["tile"]


def test_value_outside_domain_is_one_line_naming_the_parameter():
    with pytest.raises(ProgramError, match=r"tunable parameter 'tile': value 12 is outside"):
        step.trace(step_kernel, {**STEP_SIGNATURE, "params": {"tile": 12}})
    with pytest.raises(ProgramError, match="'order'"):
        step.trace(step_kernel, {**STEP_SIGNATURE, "params": {"order": ["i", "i"]}})


def test_program_without_declaration_has_no_section():
    def kernel(x, tile=16):
        t = step.linear_offchip_load(x, (tile, 64))
        return step.linear_offchip_store(t, "y")

    assert IR_KEY not in step.trace(kernel, STEP_SIGNATURE)


@pytest.mark.parametrize(
    ("domains", "message"),
    [
        ({"tile": []}, "tunable parameter 'tile': needs a non-empty list"),
        ({"tile": [8, 8]}, "'tile': repeated values"),
        ({"tile": 8}, "'tile': domain 8 is not a list"),
        ({"tile": tunable.integer(8, 4)}, "'tile': needs integers low < high"),
        ({"tile": tunable.real(0.0, 1.0, log=True)}, "'tile': a log scale needs low > 0"),
        ({"order": tunable.permutation("i", "i")}, "'order': repeated permutation items"),
        ({"missing": [1, 2]}, "'missing': the kernel needs a keyword parameter"),
        ({"tile": [32, 64]}, "'tile': default 16 is outside its domain"),
    ],
)
def test_bad_domains_are_refused(domains, message):
    def kernel(x, tile=16, order=("i", "j")):
        return None

    with pytest.raises(ProgramError, match=message.replace("(", r"\(")):
        tunable(**domains)(kernel)


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        ("tile <", "not a Python expression"),
        ("size < 4", "'size' is not a tunable parameter"),
        ("__import__('os')", "may call only"),
        ("tile.bit_length() > 2", "may call only"),
        (3, "must be a string expression"),
    ],
)
def test_bad_constraints_are_refused_quoting_them(constraint, message):
    def kernel(x, tile=16):
        return None

    with pytest.raises(ProgramError, match=f"constraint .*{message}"):
        tunable(tile=[16, 32], constraints=[constraint])(kernel)


def test_range_and_strings_and_explicit_domains():
    @tunable(n=range(1, 5), mode=["a", "b"], flag=[True, False], scale=tunable.real(0.5, 2.0))
    def kernel(x, n=2, mode="a", flag=False, scale=1.0):
        return None

    kwargs, section = bind(kernel, {"other": 3})
    assert kwargs == {"other": 3, "n": 2, "mode": "a", "flag": False, "scale": 1.0}
    assert section["params"]["n"] == {"type": "integer", "low": 1, "high": 4, "log": False}
    assert section["params"]["flag"]["type"] == "categorical"
    with pytest.raises(ProgramError, match="'flag'"):
        bind(kernel, {"flag": 1})  # 1 is not True: booleans are not numbers here


def test_with_defaults_gives_a_kernel_running_the_tuned_values():
    tuned = step.tunable.with_defaults(step_kernel, tile=64, order=["i", "j"])
    ir = step.trace(tuned, STEP_SIGNATURE)
    assert ir[IR_KEY]["values"] == {"tile": 64, "order": ["i", "j"]}
    with pytest.raises(ProgramError, match="'tile': value 7"):
        step.tunable.with_defaults(step_kernel, tile=7)


def test_declaration_round_trips_and_rejects_forged_sections():
    section = step.trace(step_kernel, STEP_SIGNATURE)[IR_KEY]
    declaration, values = declaration_from_json(section)
    assert set(declaration.domains) == {"tile", "order"} and values["tile"] == 16
    with pytest.raises(ProgramError, match="'tile': value 999"):
        declaration_from_json({**section, "values": {**section["values"], "tile": 999}})
    with pytest.raises(ProgramError, match="needs params, constraints and values"):
        declaration_from_json({"params": {}})


SAM_SIGNATURE = {
    "dialect": "sam",
    "inputs": [
        {"name": n, "dtype": "float32", "shape": ["M", "N"], "format": "dcsr"} for n in "AB"
    ],
    "outputs": [{"name": "C", "dtype": "float32", "shape": ["M", "N"], "format": "dcsr"}],
    "dims": {"M": None, "N": None},
    "params": {},
}


@sam.tunable(op=["add", "mul"])
def sam_kernel(A, B, op="add"):
    C = sam.output("C", format=["compressed", "compressed"], mode_order=[0, 1])
    with sam.graph("C"):
        i_crd_A, A_i_ref = A.scan(0)
        i_crd_B, B_i_ref = B.scan(0)
        i_crd, A_i_ref_2, B_i_ref_2 = sam.union((i_crd_A, A_i_ref), (i_crd_B, B_i_ref))
        j_crd_A, A_j_ref = A.scan(1, A_i_ref_2)
        j_crd_B, B_j_ref = B.scan(1, B_i_ref_2)
        j_crd, A_j_ref_2, B_j_ref_2 = sam.union((j_crd_A, A_j_ref), (j_crd_B, B_j_ref))
        value = sam.alu(op, A.load(A_j_ref_2), B.load(B_j_ref_2))
        C.write_level(0, i_crd)
        C.write_level(1, j_crd)
        C.write_vals(value)


def test_sam_declares_the_same_way():
    ir = sam.trace(sam_kernel, {**SAM_SIGNATURE, "params": {"op": "mul"}})
    assert ir[IR_KEY]["values"] == {"op": "mul"}
    assert any(n["attrs"].get("op") == "mul" for g in ir["graphs"] for n in g["nodes"])
    sam.load_ir(ir)  # the trusted loader accepts the section
    with pytest.raises(ProgramError, match="'op': value 'sub'"):
        sam.trace(sam_kernel, {**SAM_SIGNATURE, "params": {"op": "sub"}})


def test_dae_declares_the_same_way():
    @dae.tunable(lanes=[1, 8])
    def dae_kernel(offsets, indices, table, lanes=8):
        return None

    assert bind(dae_kernel, {})[1]["values"] == {"lanes": 8}
    with pytest.raises(ProgramError, match="'lanes': value 4"):
        bind(dae_kernel, {"lanes": 4})
