"""The DAE op registry: every access-side stream op and execute-side op, declared once.

Both halves of a program have ops, and the IR reuses a name across them (`load` is a
memory stream on the access side and a callback's read on the execute side), so registry
names carry their side: `access.load`, `execute.load`. Each spec's `rule` is the type rule
the builder and `load_ir` both run; the interpreter registers each op's semantics and cost
under the same name (`interpreter/dae/access.py`, `execute.py`, `costs.py`), and a test
walks the registry (every op has a REFERENCE.md row, a semantics and a cost).

Flags: `USES_COMPUTE` on the access side means the op takes one of the target's stream
slots (`[budget] streams`); on the execute side, that its elements count as useful work
(compute utilization and the roofline floor). `VALUE_TIMED`: its timing depends on the
addresses it reads. `SINK`: it has no result value.

The declarations live in `ops_access` and `ops_execute` (imported by `dsl.dae.validate`).
"""

from __future__ import annotations

from typing import Any

from dsl.core.spec import OpSpec, Registry

ACCESS = "access"
EXECUTE = "execute"

DAE = Registry("dae", reference="dae/REFERENCE.md", anchor="| `{name}` |")
"""The dialect's ops; REFERENCE.md has one table row per op, opening with its name."""


def spec_of(side: str, op: Any) -> OpSpec | None:
    """The spec of IR op `op` on `side` (None for a name the side does not have)."""
    return DAE.get(f"{side}.{op}") if isinstance(op, str) else None


def names(side: str) -> tuple[str, ...]:
    """IR names of the ops of one side, in declaration order (for error messages)."""
    return tuple(n.split(".", 1)[1] for n, s in DAE.items() if s.group == side)
