"""The shared budget check and the line that reports a program's use of it."""

from __future__ import annotations

import pytest

from interpreter.budget import budget_of, check_budget, describe_use
from interpreter.errors import BudgetError

TARGET = {"name": "chip", "budget": {"compute_units": 1040, "onchip_bytes": 512 * 2**20}}


def test_within_budget_passes_and_a_missing_resource_is_unlimited():
    check_budget(TARGET, {"compute_units": 1040, "lanes": 10**9})
    assert budget_of(TARGET) == {"compute_units": 1040.0, "onchip_bytes": 536870912.0}


def test_over_budget_names_resource_amount_budget_and_target():
    with pytest.raises(BudgetError) as caught:
        check_budget(TARGET, {"compute_units": 10**12})
    assert str(caught.value) == (
        "the program needs 1000000000000 compute_units, but target 'chip' has a budget of 1040"
    )
    assert (caught.value.resource, caught.value.budget) == ("compute_units", 1040.0)


def test_use_is_one_line_with_bytes_in_binary_units():
    line = describe_use(TARGET, {"compute_units": 4, "onchip_bytes": 188416, "lanes": 2.5})
    assert line == "compute_units 4 of 1040, onchip_bytes 184 KiB of 512 MiB, lanes 2.5"
