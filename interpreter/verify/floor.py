"""The task-level roofline floor: cycles no program of a task can beat on its target.

The backend's own floor (`SimReport.floor_cycles`) is computed from the run at the
target's full budget. This one depends only on the task, the inputs' dims and the target,
so it is the same for every program of the task, and it holds even if a backend's floor is
wrong: every nonzero output value has to leave the chip, so a run lasts at least those
values' bytes over the off-chip bandwidth, where the target states one. Nonzeros, not the
dense shape: a sparse program writes only the nonzeros of its output, and the outputs
counted here are the checked ones, equal to the reference's.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from benchmarks.task import Task
from interpreter.core.targets import typed


def offchip_bytes_per_cycle(target: Mapping) -> float | None:
    """The target's off-chip bandwidth in bytes per cycle, if it states one (STeP's
    `offchip_bw`, DAE's `[dram] bytes_per_cycle`; `Target.offchip_bytes_per_cycle`)."""
    return typed(target).offchip_bytes_per_cycle


def task_floor(task: Task, outputs: Mapping[str, np.ndarray], target: Mapping) -> float:
    """Bytes of the checked outputs' nonzero values over the off-chip bandwidth (0 when the
    target states no bandwidth)."""
    bandwidth = offchip_bytes_per_cycle(target)
    if bandwidth is None:
        return 0.0
    total = sum(
        int(np.count_nonzero(outputs[spec.name])) * np.dtype(spec.dtype).itemsize
        for spec in task.outputs
    )
    return total / bandwidth
