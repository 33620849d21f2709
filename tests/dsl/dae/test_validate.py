"""`load_ir` on untrusted IR: every broken rule is a ValidationError naming the node."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import dae
from dsl.errors import ProgramError, ValidationError
from tests.dsl.dae.helpers import eb_signature
from tests.dsl.dae.test_builder import bufferized_eb


@pytest.fixture(scope="module")
def good() -> dict:
    return json.loads(json.dumps(dae.trace(bufferized_eb, eb_signature())))


def _broken(good: dict, edit) -> str:
    ir = copy.deepcopy(good)
    edit(ir)
    with pytest.raises(ValidationError) as info:
        dae.load_ir(ir)
    return str(info.value)


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda ir: ir.update(dialect="sam"), "IR dialect is 'sam', expected 'dae'"),
        (lambda ir: ir.update(version=7), "IR version 7 is not dae version 1"),
        (lambda ir: ir.update(padding_idx=0), "IR has unknown keys ['padding_idx']"),
        (lambda ir: ir["memrefs"][0].update(dtype="complex64"), "memref 'offsets': dtype"),
        (lambda ir: ir["tus"][1].update(parent=5), "TU 1: parent 5 must be defined before it"),
        (lambda ir: ir["tus"][2].update(lanes=4), "TU 2: lanes must be 1 or a multiple of 8"),
        (lambda ir: ir["tus"][0].update(step=0), "TU 0: step must be in [1, 2147483647], got 0"),
        (lambda ir: ir["tus"][0].update(hi={"dim": "Q"}), "TU 0 hi: unknown dim 'Q'"),
        (lambda ir: ir["streams"][2].update(memref="weights"), "unknown memref 'weights'"),
        (
            lambda ir: ir["streams"][2].update(memref="out"),
            "is an output; the access side only reads",
        ),
        (lambda ir: ir["streams"][2]["args"].append({"const": 0}), "has rank 1 but 2 indices"),
        (lambda ir: ir["streams"][1].update(fn="pow"), "needs fn in"),
        (lambda ir: ir["streams"][7].update(contiguous="yes"), "must be booleans"),
        (lambda ir: ir["registrations"][0].update(event="later"), "event must be beg, ite or end"),
        (
            lambda ir: ir["registrations"][0].update(event="ite"),
            "buffer stream 8 can only be pushed",
        ),
        (lambda ir: ir["registrations"][1].update(case=42), "token for case 42"),
        (lambda ir: ir["registrations"][1].update(stream=0), "exactly one of 'stream'"),
        (lambda ir: ir["cases"][0]["ops"][0].update(form="matrix"), "form scalar|vector|buffer"),
        (lambda ir: ir["cases"][0]["ops"][3].update(args=[1, 2, 99]), "argument 99 is not a value"),
        (lambda ir: ir["cases"][0]["ops"][3].update(fn="xor"), "fn must be one of"),
        (lambda ir: ir["cases"][0]["ops"][0].update(length="Q"), "length names unknown dim 'Q'"),
        (lambda ir: ir["cases"][1].update(id=0), "duplicate case ids"),
        (lambda ir: ir["counters"][0].update(init=True), "init must be an int"),
        (lambda ir: ir.update(returns=["table"]), "must return output memrefs"),
        (lambda ir: ir.update(tus={}), "'tus' must be a list"),
    ],
)
def test_each_rule_names_the_node(good, edit, expected):
    assert expected in _broken(good, edit)


BIG = 2**70


@pytest.mark.parametrize(
    "edit, expected",
    [
        (
            lambda ir: ir["tus"][0].update(step=BIG),
            "TU 0: step must be in [1, 2147483647], got ~2**70",
        ),
        (lambda ir: ir["tus"][0].update(lo={"const": 2**40}), "TU 0 lo: const bound must be in"),
        (lambda ir: ir["tus"][2].update(lanes=4096), "TU 2: lanes must be in [1, 1024]"),
        (lambda ir: ir["tus"][2].update(lanes=12), "lanes must be 1 or a multiple of 8, got 12"),
        (lambda ir: ir["dims"].update(D=-BIG), "dim D: value must be in [0, 2147483647]"),
        (lambda ir: ir["memrefs"][2].update(shape=[BIG, "D"]), "shape entry must be in"),
        (lambda ir: ir["streams"][1]["args"][1].update(const=-BIG), "stream 1 (alu) arg 1: const"),
        (lambda ir: ir["counters"][0].update(init=2**63), "counter 0: init must be in"),
        (lambda ir: _op(ir, 2, 0).update(by=2**64), "case 2 (next_bag) op 0 (increment): by"),
        (lambda ir: _op(ir, 1, 2).update(value=float("nan")), "op 2 (const): float32 value must"),
        (lambda ir: _op(ir, 1, 2).update(value=float("inf")), "finite and within ±3.403e+38"),
        (lambda ir: _op(ir, 1, 2).update(value=1e39), "got 1e+39"),
        (lambda ir: _op(ir, 1, 2).update(value=BIG, dtype="int64"), "(const): value must be in"),
        (lambda ir: _op(ir, 1, 1).update(length=1 << 20), "op 1 (arange): length must be in"),
        (lambda ir: _op(ir, 0, 0).update(length=0), "op 0 (pop): length must be in [1, 65536]"),
        (lambda ir: _op(ir, 0, 0).update(id=BIG), "op 0 (pop): id must be in [0, 19999]"),
        (lambda ir: ir["cases"][2].update(id=BIG), "case: id must be in [0, 19999], got ~2**70"),
        (lambda ir: ir["registrations"][3].update(case=-1), "case must be in [0, 19999], got -1"),
    ],
)
def test_every_number_has_a_range(good, edit, expected):
    """Numbers the trusted side would compute with are bounded, so none of them can
    overflow int64 arithmetic, round to infinity or size an allocation; the message names
    the node and the field in one line."""
    message = _broken(good, edit)
    assert expected in message and "\n" not in message and len(message) < 200


def _op(ir: dict, case: int, op: int) -> dict:
    return ir["cases"][case]["ops"][op]


def test_huge_step_is_refused_at_the_users_line():
    def kernel(offsets, indices, table, **params):
        out = dae.output("out")
        with dae.loop(0, 4, step=2**70) as i:

            @dae.callback(i, "ite", i)
            def f(k):
                pass

        return out

    with pytest.raises(ProgramError, match=r"TU 0: step must be in \[1, 2147483647\]"):
        dae.trace(kernel, eb_signature())


def test_stream_from_a_sibling_loop_is_refused(good):
    def edit(ir):  # a load in TU 1 indexed by the column loop (TU 2) below it
        ir["streams"][5]["args"] = [{"stream": 6}]

    assert "refers to stream 6, which is not defined before it" in _broken(good, edit)


def test_bound_from_an_inner_loop_is_refused(good):
    def edit(ir):
        ir["tus"][1]["hi"] = {"stream": 6}

    assert "TU 1 hi" in _broken(good, edit)


def test_non_objects_are_refused():
    with pytest.raises(ValidationError, match="IR must be an object"):
        dae.load_ir([1, 2])


def test_oversized_lists_are_refused(good):
    def edit(ir):
        ir["counters"] = [{"id": i, "init": 0} for i in range(30_000)]

    assert "over the limit" in _broken(good, edit)


_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.text(max_size=3),
    st.sampled_from(["beg", "end", "ite", "load", "buffer", "scalar", "D"]),
)


@settings(max_examples=150, deadline=None)
@given(path_seed=st.integers(0, 10_000), value=_json_leaf)
def test_random_corruption_raises_only_validation_errors(good, path_seed, value):
    """Overwrite one random field anywhere in the IR: load_ir either accepts the result or
    raises ValidationError; it never crashes with anything else."""
    ir = copy.deepcopy(good)
    slots = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                slots.append((node, k))
                walk(v)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                slots.append((node, i))
                walk(v)

    walk(ir)
    container, key = slots[path_seed % len(slots)]
    container[key] = value
    try:
        dae.load_ir(ir)
    except ValidationError:
        pass
