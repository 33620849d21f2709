"""The skeleton the three dialects share: IR base classes, the op-spec registry, errors.

Imported inside the sandbox on every evaluation: pure Python, no numpy, no interpreter.
"""

from dsl.core.errors import DialectError, NotCovered, ProgramError, RuleError, ValidationError
from dsl.core.ir import Node, Port, ProgramBase, check_header
from dsl.core.spec import COST, SEMANTICS, OpSpec, Registry, registry

__all__ = [
    "COST",
    "SEMANTICS",
    "DialectError",
    "Node",
    "NotCovered",
    "OpSpec",
    "Port",
    "ProgramBase",
    "ProgramError",
    "Registry",
    "RuleError",
    "ValidationError",
    "check_header",
    "registry",
]
