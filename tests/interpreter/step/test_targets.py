"""The STeP target files carry every parameter the simulator reads, as positive numbers."""

from __future__ import annotations

import pytest

from interpreter.step.budget import peak_flops
from interpreter.step.sim import DEFAULT_TARGET, target_params
from interpreter.targets import load_target
from interpreter.verify.floor import offchip_bytes_per_cycle


@pytest.mark.parametrize("name", ["step_default", "step_small"])
def test_target_files_are_complete(name: str) -> None:
    target = load_target(name)
    assert set(DEFAULT_TARGET) <= set(target), f"{name} misses {set(DEFAULT_TARGET) - set(target)}"
    params = target_params(target)
    assert params.offchip_bw > 0 and params.channel_depth >= 1


def test_default_target_is_the_papers_machine() -> None:
    t = load_target("step_default")
    assert t["onchip_bw"] == 64 and t["offchip_bw"] == 1024
    assert t["flops_per_unit"] == 16 * 16 * 2  # a 16x16 BF16 tile: 256 MACs per cycle


@pytest.mark.parametrize("name", ["step_default", "step_small"])
def test_the_floors_peaks_are_the_budget_at_full_use(name: str) -> None:
    """The floor's peaks are derived from the budget, never stated twice: every unit's
    FLOPs, and the HBM's bytes per cycle."""
    t = load_target(name)
    assert set(t["budget"]) == {"compute_units", "memory_ports", "onchip_bytes"}
    assert peak_flops(t, t["flops_per_unit"]) == t["budget"]["compute_units"] * t["flops_per_unit"]
    assert offchip_bytes_per_cycle(t) == t["offchip_bw"]


def test_default_budget_is_the_sn40l() -> None:
    """1,040 PCUs and PMUs of 512 KiB (the STeP paper's SN40L)."""
    budget = load_target("step_default")["budget"]
    assert budget["compute_units"] == budget["memory_ports"] == 1040
    assert budget["onchip_bytes"] == 1040 * 512 * 1024
