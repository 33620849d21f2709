"""The authoring surface: what `trace` emits and what it refuses, at the user's line."""

from __future__ import annotations

import json

import pytest

from dsl import dae
from dsl.dae.ir import Event, Form
from dsl.errors import ProgramError
from tests.dsl.dae.helpers import copy_kernel, copy_signature, eb_signature


def bufferized_eb(offsets, indices, table, **params):
    out = dae.output("out")
    D = out.shape[-1]
    row = dae.counter(0)
    with dae.loop(1, offsets.shape[0]) as end:
        with dae.loop(dae.load(offsets, end - 1), dae.load(offsets, end)) as item:
            idx = dae.load(indices, item)
            with dae.loop(0, D, lanes=8) as col:
                x = dae.load(table, idx, col, contiguous=True)

            @dae.callback(col, "end", dae.buffer(x))
            def add_row(r):
                dae.accumulate(out, (row.get(), dae.arange(D)), r)

        @dae.callback(item, "beg")
        def init():
            dae.store(out, (row.get(), dae.arange(D)), 0.0)

        @dae.callback(item, "end")
        def next_bag():
            row.increment()

    return out


def test_callback_lowers_to_registrations_token_and_pops():
    ir = dae.trace(copy_kernel, copy_signature())
    regs = ir["registrations"]
    # operands i and v on TU 0 ite, then the token of case 0 on the same event
    assert regs == [
        {"tu": 0, "event": "ite", "stream": 0},
        {"tu": 0, "event": "ite", "stream": 1},
        {"tu": 0, "event": "ite", "case": 0},
    ]
    ops = ir["cases"][0]["ops"]
    assert [o["op"] for o in ops] == ["pop", "pop", "store"]
    assert ops[0] == {"op": "pop", "dtype": "int64", "form": "scalar", "id": 0}


def test_bufferized_program_round_trips_through_json():
    ir = dae.trace(bufferized_eb, eb_signature())
    program = dae.load_ir(json.loads(json.dumps(ir)))
    assert program.to_json() == dae.load_ir(program.to_json()).to_json()
    pop = program.cases[0].ops[0]
    assert (pop.form, pop.length, pop.dtype) == (Form.BUFFER, "D", "float32")
    buffer_reg = program.registrations[0]
    assert buffer_reg.event is Event.END and program.streams[buffer_reg.stream].op == "buffer"
    assert program.tus[2].lanes == 8
    assert [s.contiguous for s in program.streams if s.op == "load"] == [False, False, False, True]


def _raises(kernel, match: str, signature=None) -> ProgramError:
    with pytest.raises(ProgramError, match=match) as info:
        dae.trace(kernel, signature or eb_signature())
    return info.value


def test_python_control_flow_on_streams_is_refused():
    def kernel(offsets, indices, table, **params):
        with dae.loop(0, 4) as i:
            if dae.load(offsets, i):
                pass
        return dae.output("out")

    err = _raises(kernel, "no truth value")
    assert err.line is not None


def test_stream_of_a_closed_loop_is_refused():
    def kernel(offsets, indices, table, **params):
        with dae.loop(0, 4) as i:
            pass
        dae.load(offsets, i)
        return dae.output("out")

    _raises(kernel, "already closed")


def test_vector_loops_must_be_innermost():
    def kernel(offsets, indices, table, **params):
        with dae.loop(0, 16, lanes=8):
            with dae.loop(0, 4):
                pass
        return dae.output("out")

    _raises(kernel, "vector TUs must be innermost")


def test_buffer_of_a_csr_range_is_refused():
    def kernel(offsets, indices, table, **params):
        with dae.loop(0, 4) as b:
            with dae.loop(dae.load(offsets, b), dae.load(offsets, b + 1)) as j:
                v = dae.load(indices, j)
            dae.buffer(v)
        return dae.output("out")

    _raises(kernel, "static bounds")


def test_operand_must_belong_to_the_event_loop():
    def kernel(offsets, indices, table, **params):
        with dae.loop(0, 4) as b:
            with dae.loop(0, 8) as j:
                v = dae.load(indices, j)

            @dae.callback(b, "ite", v)  # v is a stream of the inner loop
            def use(x):
                pass

        return dae.output("out")

    _raises(kernel, "belongs to TU 1")


def test_contiguous_needs_the_vector_loop_as_last_index():
    def kernel(offsets, indices, table, **params):
        with dae.loop(0, 16, lanes=8) as c:
            dae.load(table, c, 0, contiguous=True)
        return dae.output("out")

    _raises(kernel, "contiguous loads need")


def test_callbacks_cannot_read_outputs_or_write_inputs():
    def reads_output(offsets, indices, table, **params):
        out = dae.output("out")
        with dae.loop(0, 4) as b:

            @dae.callback(b, "ite", b)
            def bad(i):
                dae.load(out, i, 0)

        return out

    def writes_input(offsets, indices, table, **params):
        with dae.loop(0, 4) as b:

            @dae.callback(b, "ite", b)
            def bad(i):
                dae.store(table, (i, 0), 1.0)

        return dae.output("out")

    _raises(reads_output, "callbacks may load inputs only")
    _raises(writes_input, "only outputs are written")


def test_store_value_dtype_and_rank_are_checked():
    def wrong_dtype(offsets, indices, table, **params):
        out = dae.output("out")
        with dae.loop(0, 4) as b:

            @dae.callback(b, "ite", b)
            def bad(i):
                dae.store(out, (i, 0), i)  # int64 into float32

        return out

    def wrong_rank(offsets, indices, table, **params):
        out = dae.output("out")
        with dae.loop(0, 4) as b:

            @dae.callback(b, "ite", b)
            def bad(i):
                dae.store(out, (i,), 1.0)

        return out

    _raises(wrong_dtype, "value is int64")
    _raises(wrong_rank, "rank 2 but 1 indices")


def test_vector_and_buffer_values_do_not_mix():
    def kernel(offsets, indices, table, **params):
        out = dae.output("out")
        with dae.loop(0, 4) as b:
            with dae.loop(0, 16, lanes=8) as c:
                x = dae.load(table, b, c)

                @dae.callback(c, "ite", x)
                def bad(v):
                    dae.store(out, (0, dae.arange(16)), v)

        return out

    _raises(kernel, "operands of different shapes")


def test_execute_calls_outside_callbacks_and_access_calls_inside():
    def store_outside(offsets, indices, table, **params):
        out = dae.output("out")
        dae.store(out, (0, 0), 1.0)
        return out

    def loop_inside(offsets, indices, table, **params):
        with dae.loop(0, 4) as b:

            @dae.callback(b, "ite")
            def bad():
                with dae.loop(0, 2):
                    pass

        return dae.output("out")

    _raises(store_outside, "inside a callback")
    _raises(loop_inside, "cannot be called inside a callback")


def test_kernel_must_return_outputs():
    def kernel(offsets, indices, table, **params):
        return None

    _raises(kernel, "must return its output")


def test_builders_outside_trace_fail_clearly():
    with pytest.raises(ProgramError, match="while `trace` runs"):
        dae.counter()
