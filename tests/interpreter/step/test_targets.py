"""The STeP target files carry every parameter the simulator reads, as positive numbers."""

from __future__ import annotations

import pytest

from interpreter.step.sim import DEFAULT_TARGET, target_params
from interpreter.targets import load_target


@pytest.mark.parametrize("name", ["step_default", "step_small"])
def test_target_files_are_complete(name: str) -> None:
    target = load_target(name)
    assert set(DEFAULT_TARGET) <= set(target), f"{name} misses {set(DEFAULT_TARGET) - set(target)}"
    params = target_params(target)
    assert params["offchip_bw"] > 0 and params["channel_depth"] >= 1


def test_default_target_is_the_papers_machine() -> None:
    t = load_target("step_default")
    assert t["onchip_bw"] == 64 and t["offchip_bw"] == 1024
    assert t["flops_per_unit"] == 16 * 16 * 2  # a 16x16 BF16 tile: 256 MACs per cycle


@pytest.mark.parametrize("name", ["step_default", "step_small"])
def test_budget_and_roofline_agree(name: str) -> None:
    """The roofline facts are the budget at full use: every unit's FLOPs, the HBM's bytes."""
    t = load_target(name)
    assert set(t["budget"]) == {"compute_units", "memory_ports", "onchip_bytes"}
    roof = t["roofline"]
    assert roof["peak_flops_per_cycle"] == t["budget"]["compute_units"] * t["flops_per_unit"]
    assert roof["offchip_bytes_per_cycle"] == t["offchip_bw"]


def test_default_budget_is_the_sn40l() -> None:
    """1,040 PCUs and PMUs of 512 KiB (the STeP paper's SN40L)."""
    budget = load_target("step_default")["budget"]
    assert budget["compute_units"] == budget["memory_ports"] == 1040
    assert budget["onchip_bytes"] == 1040 * 512 * 1024
