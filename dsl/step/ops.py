"""The STeP op registry: each op's inputs, attributes, shape/type rule and documentation.

The same rule runs twice: eagerly in the builder (errors become `ProgramError` at the
user's line) and again in `load_ir` on the untrusted IR (errors become `ValidationError`).
Semantics and timing are registered under the same names in `interpreter/step/`.

The declarations live in `ops_memory`, `ops_routing`, `ops_compute` and `ops_shape`
(importing them registers the ops, in this order); `OPS` is the registry itself.
"""

from __future__ import annotations

# The import order is the registration order, the order ops are listed in.
# isort: off
import dsl.step.ops_memory  # noqa: F401
import dsl.step.ops_routing  # noqa: F401
import dsl.step.ops_compute  # noqa: F401
import dsl.step.ops_shape  # noqa: F401
# isort: on

from dsl.step.ops_common import (
    REQUIRED_ATTR,
    STEP,
    OpDecl,
    RuleEnv,
    RuleError,
    TensorDecl,
    tile_grid,
)

OPS = STEP
__all__ = [
    "OPS",
    "REQUIRED_ATTR",
    "STEP",
    "OpDecl",
    "RuleEnv",
    "RuleError",
    "TensorDecl",
    "tile_grid",
]
