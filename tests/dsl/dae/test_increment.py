"""`c.increment(by)` with a runtime value: what the builder and `load_ir` accept, and the
one-line errors for what they refuse (semantics: tests/interpreter/dae/test_increment.py)."""

from __future__ import annotations

import copy
import json

import pytest

from dsl import dae
from dsl.dae import load_ir
from dsl.errors import ProgramError, ValidationError
from tests.dsl.dae.helpers import copy_signature


def _kernel(amount):
    """x[i] pushed per element; the callback increments a counter by `amount(value, c, i)`."""

    def kernel(x, **params):
        out = dae.output("out")
        c = dae.counter(0)
        with dae.loop(0, out.shape[0]) as i:
            v = dae.load(x, i)

            @dae.callback(i, "ite", i, v)
            def put(k, value):
                dae.store(out, (k,), value)
                c.increment(amount(value, c, i))

        return out

    return kernel


def test_a_popped_value_becomes_the_increments_one_argument() -> None:
    ir = dae.trace(_kernel(lambda v, c, i: v), copy_signature())
    ops = ir["cases"][0]["ops"]
    assert ops[-1] == {"op": "increment", "args": [1], "counter": 0}
    program = load_ir(json.loads(json.dumps(ir)))
    assert program.cases[0].ops[-1].args == (1,)
    assert load_ir(program.to_json()) == program  # the canonical wire form round-trips


def test_arithmetic_on_operands_is_an_amount_too() -> None:
    ir = dae.trace(_kernel(lambda v, c, i: v * 2 + 1), copy_signature())
    assert ir["cases"][0]["ops"][-1]["args"] == [5]


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (
            lambda v, c, i: c.get(),
            "case 0 (put) op 4 (increment): the amount is computed from a counter's get();"
            " an increment may depend on operands, constants and input loads only",
        ),
        (
            lambda v, c, i: dae.maximum(v, c.get() - 1),
            "case 0 (put) op 7 (increment): the amount is computed from a counter's get()",
        ),
        (
            lambda v, c, i: v * 1.0,
            "case 0 (put) op 5 (increment): the amount must be an int64 scalar, got"
            " scalar<float32>",
        ),
        (
            lambda v, c, i: i,
            "counter increment: `by` must be an int or an int64 scalar value of the callback,"
            " got Loop (a stream reaches a callback as an operand)",
        ),
        (
            lambda v, c, i: 2.0,
            "counter increment: `by` must be an int or an int64 scalar value of the callback,"
            " got float",
        ),
        (lambda v, c, i: 2**40, "case 0 (put) op 3 (increment): by must be in"),
    ],
)
def test_the_builder_refuses_an_amount_in_one_line(amount, message: str) -> None:
    with pytest.raises(ProgramError) as err:
        dae.trace(_kernel(amount), copy_signature())
    text = str(err.value)
    assert message in text
    assert "\n" not in text and "object at" not in text


def test_a_vector_amount_is_refused() -> None:
    def kernel(x, **params):
        out = dae.output("out")
        c = dae.counter(0)
        with dae.loop(0, out.shape[0], lanes=8) as i:
            v = dae.load(x, i)

            @dae.callback(i, "ite", v)
            def put(value):
                c.increment(value)

        return out

    with pytest.raises(ProgramError, match=r"amount must be an int64 scalar, got vector<int64>"):
        dae.trace(kernel, copy_signature())


def test_a_counter_value_cannot_bound_a_loop() -> None:
    """The execute side has no loops and its values never reach the access side, so no
    counter can run a loop without bound."""

    def kernel(x, **params):
        out = dae.output("out")
        c = dae.counter(0)
        seen = []
        with dae.loop(0, out.shape[0]) as i:
            v = dae.load(x, i)

            @dae.callback(i, "ite", v)
            def put(value):
                c.increment(value)
                seen.append(c.get())

        with dae.loop(0, seen[0]):
            pass
        return out

    with pytest.raises(ProgramError, match=r"loop hi: expected a stream, an int or a dim, got"):
        dae.trace(kernel, copy_signature())


def _raw() -> dict:
    return dae.trace(_kernel(lambda v, c, i: v), copy_signature())


def _with_last_op(change: dict) -> dict:
    ir = copy.deepcopy(_raw())
    ir["cases"][0]["ops"][-1].update(change)
    return ir


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"by": 2}, "takes either an int `by` or one value argument, not both"),
        ({"args": [1, 0]}, "takes either an int `by` or one value argument, not both"),
        ({"args": [2]}, "argument 2 is not a value defined earlier in the case"),
    ],
)
def test_load_ir_refuses_a_malformed_increment(change: dict, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        load_ir(_with_last_op(change))
    assert str(err.value) == f"case 0 (put) op 3 (increment): {message}"


def test_load_ir_refuses_an_amount_read_from_a_counter() -> None:
    ir = copy.deepcopy(_raw())
    ops = ir["cases"][0]["ops"]
    ops.insert(-1, {"op": "get", "counter": 0, "id": 9})
    ops[-1]["args"] = [9]
    with pytest.raises(ValidationError, match=r"^case 0 \(put\) op 4 \(increment\): the amount"):
        load_ir(ir)


def _enter(cm) -> None:
    with cm:
        pass


@pytest.mark.parametrize(
    ("misuse", "message"),
    [
        (lambda i, v: dae.counter(v), "counter init must be an int, got Stream"),
        (lambda i, v: _enter(dae.loop(0, 4, step=v)), "TU 1: step must be an int, got Stream"),
        (lambda i, v: _enter(dae.loop(0, 4, lanes=i)), "TU 1: lanes must be an int, got Loop"),
        (
            lambda i, v: dae.callback(i, v)(lambda: None),
            "event must be 'beg', 'ite' or 'end', got Stream",
        ),
        (
            lambda i, v: dae.callback(i, "ite")(lambda: dae.arange(v)),
            "op 0 (arange): length must be an int, got Stream",
        ),
    ],
)
def test_builder_errors_name_an_objects_type_not_its_address(misuse, message: str) -> None:
    def kernel(x, **params):
        out = dae.output("out")
        with dae.loop(0, out.shape[0]) as i:
            misuse(i, dae.load(x, i))
        return out

    with pytest.raises(ProgramError) as err:
        dae.trace(kernel, copy_signature())
    assert message in str(err.value) and "object at" not in str(err.value)
