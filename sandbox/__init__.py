"""The sandbox: the only place where untrusted, agent-written Python runs.

`build_ir(source, dialect=..., signature=...)` runs a program's Python isolated (bubblewrap,
docker or a plain process, see `select_backend`) so that it builds its IR, and returns a
`BuildResult`; nothing but that one JSON document comes out. The sandbox knows nothing of any
dialect's semantics: the IR is validated on the trusted side.
"""

from __future__ import annotations

import importlib

# Names are resolved on first use: the harness imports `sandbox.harness` inside the sandbox
# on every build, and loading the parent-side modules there would cost ~70 ms for nothing.
_EXPORTS = {
    "Backend": "sandbox.backends",
    "SandboxConfigError": "sandbox.backends",
    "select_backend": "sandbox.backends",
    "Limits": "sandbox.limits",
    "BuildResult": "sandbox.result",
    "build_ir": "sandbox.runner",
    "submit_build": "sandbox.runner",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
