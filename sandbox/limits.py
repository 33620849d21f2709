"""Resource limits of one sandboxed build.

Every backend enforces all of them: the harness sets the rlimits on itself before the
program runs (one place, the same in every backend), the parent enforces wall time and
output sizes while it reads, and docker adds its cgroup limits on top.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Limits:
    """What one build may use. The defaults suit an IR builder, which needs very little."""

    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_bytes: int = 1024 * MIB  # address space of the sandboxed process
    output_bytes: int = 1 * MIB  # everything the program prints (stdout and stderr together)
    ir_bytes: int = 2 * MIB  # the one JSON document on the result channel
    source_bytes: int = 256 * KIB
    processes: int = 16  # docker pids limit / RLIMIT_NPROC; seccomp refuses fork anyway

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value <= 0:
                raise ValueError(f"Limits.{name} must be positive, got {value!r}")

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)
