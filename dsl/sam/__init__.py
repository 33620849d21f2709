"""SAM dialect: fused sparse dataflow programs in the Sparse Abstract Machine model.

A program walks tensors stored as fibertrees with level scanners, merges coordinate
streams with joiners, computes with ALUs and reducers, and writes results through level
and value writers. `dsl/sam/REFERENCE.md` documents every primitive.
"""

from dsl.core.params import tunable
from dsl.sam.builder import (
    Stream,
    Tensor,
    alu,
    broadcast,
    crd_drop,
    crd_hold,
    fork,
    graph,
    intersect,
    join,
    load,
    locate,
    output,
    reduce,
    repeat,
    repeat_signal,
    root,
    scan,
    spacc1,
    spacc2,
    stkn_drop,
    tensor,
    trace,
    union,
    val_drop,
    write_level,
    write_vals,
)
from dsl.sam.ir import Program, load_ir

__all__ = [
    "Program",
    "Stream",
    "Tensor",
    "alu",
    "broadcast",
    "crd_drop",
    "crd_hold",
    "fork",
    "graph",
    "intersect",
    "join",
    "load",
    "load_ir",
    "locate",
    "output",
    "reduce",
    "repeat",
    "repeat_signal",
    "root",
    "scan",
    "spacc1",
    "spacc2",
    "stkn_drop",
    "tunable",
    "tensor",
    "trace",
    "union",
    "val_drop",
    "write_level",
    "write_vals",
]
