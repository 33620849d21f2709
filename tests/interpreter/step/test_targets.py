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
