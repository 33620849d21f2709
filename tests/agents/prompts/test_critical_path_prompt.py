"""The optimise prompt carries the simulator's critical path: its ops first (only they set
the cycle count), and the source line the bottleneck sentence names, quoted."""

from __future__ import annotations

from agents.prompts import build_messages
from tests.memory.task_factory import make_task

PROGRAM = (
    "from dsl import step\n\n\ndef kernel(x, tile=16):\n"
    "    t = step.linear_offchip_load(x, (tile, 64))\n"
    "    return step.linear_offchip_store(step.map(t, 'exp'), 'y')\n"
)


def _optimise(verdict: dict) -> str:
    return build_messages(make_task(), mode="optimise", program=PROGRAM, feedback=verdict)[1][
        "content"
    ]


def test_ops_on_the_critical_path_come_first_and_the_named_line_is_quoted() -> None:
    sentence = (
        "Critical path: 80% of 1000 cycles wait for compute, most in map (node 1, line 6);"
        " raise its compute= from 1 to 4."
    )
    verdict = {
        "status": "passed",
        "cycles": 1000,
        "feedback": f"correct on 3 runs; 1000 cycles. {sentence}",
        "bottleneck": sentence,
        "per_op": {
            "linear_offchip_load (node 0, line 5)": {"busy_cycles": 9000.0, "critical_cycles": 0},
            "map (node 1, line 6)": {"busy_cycles": 800.0, "critical_cycles": 800.0},
            "linear_offchip_store (node 2, line 6)": {"busy_cycles": 90, "critical_cycles": 150},
        },
    }
    user = _optimise(verdict)
    on_path = user[user.index("ops on the critical path:") :]
    assert on_path.index("map (node 1") < on_path.index("linear_offchip_store (node 2")
    assert "linear_offchip_load (node 0" not in on_path  # busiest, but off the path
    assert "line 6 of your program: return step.linear_offchip_store(step.map(t, 'exp'), 'y')" in (
        user
    )
    assert "Shorten the critical path above" in user


def test_a_report_without_a_critical_path_still_lists_the_busiest_ops() -> None:
    verdict = {"status": "passed", "cycles": 10, "per_op": {"a": {"busy": 1.0}, "b": {"busy": 5}}}
    busiest = _optimise(verdict)
    assert busiest.index("busiest ops:") < busiest.index("b: busy=5") < busiest.index("a: busy=1")
