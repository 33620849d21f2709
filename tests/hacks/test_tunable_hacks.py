"""Tunable-parameter hacks: a program's `@<dialect>.tunable(...)` declaration travels in its
IR to the trusted tuner, so what it declares is untrusted input there.

| hack | before (this session's tree) | now |
| constraint `((((((t**64)**64)**64)**64)**64)**64) > 0` (every power's exponent <= 64) | the
  tuner hangs (bignum of 64**6 * 4 bits; killed after 20 s) | one-line TuneError, < 1 ms |
| constraint `len('ab' * t * 10**8) > 0` | the tuner allocates a 3.2 GB string | one-line
  TuneError |
| a 50 MB categorical value smuggled through the declaration | rejected: IR over 2 MiB | same |
| `tunable.permutation` of 40 items (a program's own declaration, or an IR section) | the
  tuner's 3rd ask still running after 40 s (GP + local search grow with n²) | one-line
  error: "a permutation orders at most 8 items" |
"""

from __future__ import annotations

import time

import pytest

from agents.tuning import Knobs, TuneError
from benchmarks.task import load_task
from dsl import step
from dsl.core.params import MAX_PERMUTATION
from dsl.errors import ProgramError
from interpreter.verifier import verify


def _section(*constraints: str) -> dict:
    """A `tunable` IR section as a program's `@step.tunable(tile_rows=[8, 16, 32],
    constraints=[...])` declaration puts it, the input `agent tune` reads."""
    return {
        "params": {"tile_rows": {"type": "ordinal", "values": [8, 16, 32], "log": False}},
        "constraints": list(constraints),
        "values": {"tile_rows": 16},
    }


@pytest.mark.parametrize(
    "constraint, why",
    [
        ("((((((tile_rows**64)**64)**64)**64)**64)**64) > 0", "is too large"),
        ("(tile_rows**64) * (tile_rows**64) ** 64 > 0", "is too large"),
        ("len('ab' * tile_rows * 10**8) > 0", "repeating a string or tuple is not allowed"),
        ("len((1, 2) * tile_rows) > 0", "repeating a string or tuple is not allowed"),
    ],
)
def test_a_constraint_that_would_stall_the_tuner_is_one_line(constraint: str, why: str) -> None:
    start = time.perf_counter()
    with pytest.raises(TuneError, match=why) as info:
        Knobs.of(_section(constraint))
    assert time.perf_counter() - start < 1.0
    assert "\n" not in str(info.value) and constraint in str(info.value)


def test_ordinary_constraint_arithmetic_still_works() -> None:
    knobs = Knobs.of(_section("tile_rows * 128 * 4 <= 2**16", "tile_rows % 8 == 0"))
    assert knobs.params(knobs.start) == {"tile_rows": 16}
    with pytest.raises(TuneError, match="break its constraint 'tile_rows \\* 4 > 64'"):
        Knobs.of(_section("tile_rows * 4 > 64"))


SMUGGLE = """
from dsl import step


@step.tunable(tile_rows=[8, 16, 32], junk=["x" * 50_000_000, "y"])
def kernel(a, b, tile_rows=16, junk="y"):
    a_t0, a_t1 = step.copy(step.linear_offchip_load(a, (tile_rows, 128)), 2)
    b_t = step.expand(step.linear_offchip_load(b, (128, 64)), a_t1)
    return step.linear_offchip_store(step.map([a_t0, b_t], "matmul"), "c")
"""


def test_a_huge_value_smuggled_through_a_domain_is_rejected() -> None:
    v = verify(load_task("step/gemm"), SMUGGLE, seed=1)
    assert v.status == "rejected" and "the IR is larger than the 2 MiB limit" in v.feedback


def test_a_permutation_too_long_to_tune_is_refused_where_declared() -> None:
    items = [f"i{k}" for k in range(40)]
    with pytest.raises(ProgramError, match="'order': a permutation orders at most 8 items"):
        step.tunable(order=step.tunable.permutation(*items))
    section = {
        "params": {"order": {"type": "permutation", "items": items}},
        "constraints": [],
        "values": {"order": items},
    }
    with pytest.raises(TuneError, match="at most 8 items"):
        Knobs.of(section)  # an IR section written by hand, not by the decorator
    eight = [f"i{k}" for k in range(MAX_PERMUTATION)]
    assert step.tunable(order=step.tunable.permutation(*eight))  # a deep loop nest still fits
