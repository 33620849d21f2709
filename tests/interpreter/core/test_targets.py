"""Typed targets: every shipped target loads as its dialect's dataclass, and a bad key
(missing, mistyped, negative, unknown, in the wrong section) fails in one line naming the
file and the key, before any program runs."""

from __future__ import annotations

import pytest

import interpreter.targets as targets
from interpreter.core.targets import (
    DaeTarget,
    SamTarget,
    StepTarget,
    TargetError,
    typed,
)
from interpreter.targets import available, load_target


def test_every_shipped_target_is_typed_by_its_dialect():
    kinds = {"sam": SamTarget, "step": StepTarget, "dae": DaeTarget}
    names = available()
    assert {n.split("_")[0] for n in names} == set(kinds)
    for name in names:
        target = typed(load_target(name))
        assert isinstance(target, kinds[name.split("_")[0]]) and target.name == name
        assert target.budget, f"{name} has no [budget]"
    hbm = typed(load_target("sam_comal_hbm"))
    assert hbm.hbm.enabled and (hbm.hbm.channels, hbm.hbm.startup, hbm.fifo_depth) == (8, 14, 0)
    step = typed(load_target("step_small"))
    assert (step.channel_depth, step.offchip_bw, step.budget["compute_units"]) == (2, 256.0, 64.0)
    dae = typed(load_target("dae_wide"))
    assert (dae.access.mem_requests_per_cycle, dae.cache.line_bytes) == (2.0, 64)


def _step(**changes) -> dict:
    table = dict(load_target("step_small"))
    table.update(changes)
    return {k: v for k, v in table.items() if v is not None}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (_step(channel_depth=None), r"^f\.toml: missing key channel_depth$"),
        (_step(chanel_depth=2), r"^f\.toml: unknown key chanel_depth; known: name, "),
        (_step(offchip_bw="fast"), r"^f\.toml: offchip_bw must be a number >= 0, got 'fast'$"),
        (_step(offchip_bw=-1), r"offchip_bw must be a number >= 0, got -1$"),
        (_step(offchip_bw=True), r"offchip_bw must be a number >= 0, got True$"),
        (_step(channel_depth=2.5), r"channel_depth must be a whole number, got 2.5$"),
        (_step(offchip_bw=0), r"^f\.toml: offchip_bw must be a number > 0, got 0$"),
        (_step(budget={"compute_units": "many"}), r"\[budget\] compute_units must be a number"),
        (_step(dialect="sam"), r"unknown key onchip_bw"),
        (_step(dialect="tpu"), r"unknown dialect 'tpu'; known: sam, step, dae$"),
        ({"name": "sam_x", "hbm": {"chanels": 4}}, r"^f\.toml: unknown key \[hbm\] chanels; "),
        ({"name": "sam_x", "hbm": {"enabled": 1}}, r"\[hbm\] enabled must be true or false"),
        ({"name": "sam_x", "hbm": 8}, r"\[hbm\] must be a table, got 8$"),
        ({"name": "sam_x", "hbm": {"channels": 0}}, r"\[hbm\] channels must be a number > 0"),
        ({"name": "dae_x"}, r"^f\.toml: missing key access$"),
    ],
)
def test_a_bad_key_fails_in_one_line_naming_file_and_key(table, message):
    with pytest.raises(TargetError, match=message) as err:
        typed(table, "f.toml")
    assert "\n" not in str(err.value)


def test_a_reader_that_knows_its_dialect():
    assert typed({}, dialect="sam") == SamTarget(name="?", dialect="sam")
    with pytest.raises(TargetError, match="a step target, not a sam one"):
        typed(load_target("step_small"), dialect="sam")


def test_load_target_refuses_a_bad_file(tmp_path, monkeypatch):
    (tmp_path / "sam_typo.toml").write_text("fifo_depht = 2\n[budget]\nlanes = 4\n")
    monkeypatch.setattr(targets, "TARGETS_DIR", tmp_path)
    with pytest.raises(TargetError, match=r"sam_typo\.toml: unknown key fifo_depht"):
        load_target("sam_typo")


def test_the_offchip_bandwidth_is_read_by_kind_not_by_key():
    """The verifier's task floor asks each kind for its bandwidth: STeP's offchip_bw, DAE's
    [dram] bytes_per_cycle, none for SAM (its HBM model states no bytes per cycle)."""
    assert typed(load_target("step_small")).offchip_bytes_per_cycle == 256.0
    assert typed(load_target("dae_default")).offchip_bytes_per_cycle == 16.0
    assert typed(load_target("sam_comal_hbm")).offchip_bytes_per_cycle is None


@pytest.mark.parametrize(("value", "ok"), [(1, True), (0.999, False), (0, False)])
def test_a_core_cost_is_at_least_one_cycle(value, ok):
    table = load_target("dae_default")
    table = {**table, "execute": {**table["execute"], "store_cycles": value}}
    if ok:
        assert typed(table).execute.store_cycles == 1.0
    else:
        with pytest.raises(TargetError, match=r"\[execute\] store_cycles must be a number >= 1"):
            typed(table)
