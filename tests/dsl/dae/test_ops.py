"""The DAE op registry (`dsl.dae.ops`): every op declared once, documented, dispatched."""

from __future__ import annotations

import copy
import json

import pytest

from dsl import dae
from dsl.core.spec import SINK
from dsl.dae.ops import ACCESS, DAE, EXECUTE, names
from dsl.errors import ProgramError, ValidationError
from tests.dsl.dae.helpers import copy_signature, eb_signature


def test_every_op_is_documented_on_its_side():
    assert DAE.undocumented() == []
    assert names(ACCESS) == ("iv", "load", "alu", "buffer")
    assert set(names(EXECUTE)) >= {"pop", "binary", "store", "accumulate", "compare", "select"}
    for name, spec in DAE.items():
        assert name == f"{spec.group}.{name.split('.', 1)[1]}" and spec.rule is not None
        # an op without a result is a sink, and only those: the builder assigns ids by it
        assert (spec.outputs == "none") == spec.has(SINK), name


def test_unknown_ops_name_their_side():
    ir = json.loads(json.dumps(dae.trace(_clamp_kernel, copy_signature(4))))
    bad = copy.deepcopy(ir)
    bad["streams"][1]["op"] = "gather"
    with pytest.raises(ValidationError, match=r"stream 1 \(gather\): op must be one of iv, load"):
        dae.load_ir(bad)
    bad = copy.deepcopy(ir)
    bad["cases"][0]["ops"][2]["op"] = "lerp"
    with pytest.raises(ValidationError, match=r"op 2 \(lerp\): unknown op 'lerp'"):
        dae.load_ir(bad)


def _clamp_kernel(x, **params):
    """out[i] = x[i] if x[i] < 3 else -1 (compare + select on scalars)."""
    out = dae.output("out")
    with dae.loop(0, out.shape[0]) as i:
        v = dae.load(x, i)

        @dae.callback(i, "ite", i, v)
        def put(k, value):
            dae.store(out, (k,), dae.where(value < 3, value, -1))

    return out


def test_compare_and_select_build_typed_ops():
    ir = dae.trace(_clamp_kernel, copy_signature(4))
    ops = ir["cases"][0]["ops"]
    assert [o["op"] for o in ops] == ["pop", "pop", "const", "compare", "const", "select", "store"]
    assert ops[3]["fn"] == "lt" and ops[5]["args"] == [3, 1, 4]  # (value < 3, value, -1)
    program = dae.load_ir(ir)
    assert program.to_json() == dae.load_ir(program.to_json()).to_json()


@pytest.mark.parametrize(
    "body, message",
    [
        (lambda r, b: dae.where(r, r, 0.0), "needs an int64 condition"),  # float condition
        (lambda r, b: dae.where(b > 0, r, b), "operands of different shapes"),
        (lambda r, b: dae.where(b > 0, r), "missing 1 required positional argument"),
        (lambda r, b: r < "x", "expected an execute-side value or a number, got str"),
    ],
)
def test_select_rules_fail_at_the_users_line(body, message):
    def kernel(offsets, indices, table, **params):
        out = dae.output("out")
        with dae.loop(0, 2) as r:
            with dae.loop(0, 16, lanes=8) as c:
                x = dae.load(table, r, c, contiguous=True)

            @dae.callback(c, "end", r, dae.buffer(x))
            def put(row, values):
                body(values, dae.arange(8))

        return out

    with pytest.raises((ProgramError, TypeError), match=message):
        dae.trace(kernel, eb_signature(d=16, n=2))


def test_select_loaded_from_json_checks_its_condition():
    ir = json.loads(json.dumps(dae.trace(_clamp_kernel, copy_signature(4))))
    ir["cases"][0]["ops"][5]["args"] = [2, 1, 4]  # any int64 value is a condition
    dae.load_ir(ir)
    ir["cases"][0]["ops"][4].update(value=-1.5, dtype="float32")
    ir["cases"][0]["ops"][5]["args"] = [4, 1, 2]  # condition: the float constant
    with pytest.raises(ValidationError, match=r"op 5 \(select\): needs an int64 condition"):
        dae.load_ir(ir)
    ir["cases"][0]["ops"][3]["fn"] = "approx"
    with pytest.raises(ValidationError, match=r"op 3 \(compare\): needs fn in"):
        dae.load_ir(ir)


def test_execute_side_ops_outside_a_callback_name_the_call():
    def kernel(x, **params):
        out = dae.output("out")
        with dae.loop(0, 4) as i:
            dae.where(i, 1, 2)
        return out

    with pytest.raises(ProgramError, match="where runs on the execute side"):
        dae.trace(kernel, copy_signature(4))
