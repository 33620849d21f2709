"""SAM coordinate-point hacks: `crdpt_accumulate` costs one step per point, so it must not
sum b x b blocks (spacc's b² cycles of work each) for free.

| hack | before (this session's tree) | now |
| bigbird b16's `spacc1(j, mul)` replaced by `crdpt_accumulate` over `stkn_drop`ped j, j
  and 16x16 blocks of mul | invalid, but as "its input streams are malformed (ValueError:
  array is not broadcastable ...)" | invalid: "val holds 16x16 blocks; sum blocks with
  spacc" |
"""

from __future__ import annotations

from benchmarks.task import load_task
from interpreter.verifier import verify

SPACC = "j_crd_acc, acc_k = sam.spacc1(j_crd_M_2, mul)"
POINTS = """j_a, j_b = sam.broadcast(j_crd_M_2, 2)
        _, j_crd_acc, acc_k = sam.crdpt_accumulate(
            sam.stkn_drop(j_a), sam.stkn_drop(j_b), sam.stkn_drop(mul)
        )"""


def test_block_values_through_a_point_accumulator_are_refused_by_name() -> None:
    task = load_task("sam/bigbird_attention_b16")
    source = task.baseline_source()
    assert source.count(SPACC) == 1
    v = verify(task, source.replace(SPACC, POINTS), seed=1)
    assert v.status == "invalid" and v.cycles is None
    assert "(crdpt_accumulate): val holds 16x16 blocks; sum blocks with spacc" in v.feedback
    assert len(v.feedback.splitlines()) == 1
