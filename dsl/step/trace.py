"""`trace`: run a kernel on input handles and return its IR (what the sandbox ships back)."""

from __future__ import annotations

from collections.abc import Callable

from dsl.core.params import IR_KEY as TUNABLE_KEY
from dsl.core.params import bind as bind_params
from dsl.errors import ProgramError
from dsl.step.builder import Graph, Store, Tensor, unconsumed
from dsl.step.gc_pause import paused_gc
from dsl.step.ir import Program, dim_of
from dsl.step.ops import TensorDecl
from dsl.step.ops_routing import feedback_error
from dsl.step.types import DTYPE_BYTES


def _tensor_decls(signature: dict, dims: dict[str, int | None]) -> dict[str, TensorDecl]:
    out: dict[str, TensorDecl] = {}
    for role in ("input", "output"):
        for entry in signature.get(role + "s", []):
            name, dtype, shape = entry.get("name"), entry.get("dtype"), entry.get("shape")
            if not isinstance(name, str) or dtype not in DTYPE_BYTES or not shape:
                raise ProgramError(f"signature: malformed {role} {entry!r}")
            if name in out:
                raise ProgramError(f"signature: tensor name {name!r} used twice")
            for d in shape:
                if isinstance(d, str) and d not in dims:
                    raise ProgramError(f"signature: {role} {name!r} uses undeclared dim {d!r}")
            out[name] = TensorDecl(name, dtype, tuple(dim_of(d, dims) for d in shape), role)
    return out


def build(kernel: Callable, signature: dict) -> Program:
    """Call `kernel(<input handles by name>, **params)` and return the checked `Program`.

    The kernel writes each task output with a store op (`linear_offchip_store` /
    `random_offchip_store`, naming the output) and returns its store handle(s). Raises
    `ProgramError` for a builder error, a stream never consumed, an output never stored or
    a return value that is not store handles.
    """
    dims = dict(signature.get("dims", {}))
    graph = Graph(_tensor_decls(signature, dims), dims)
    handles = {t.name: Tensor(graph, t) for t in graph.tensors.values() if t.role == "input"}
    kwargs, _ = bind_params(kernel, signature.get("params") or {})
    result = kernel(**handles, **kwargs)
    returned = result if isinstance(result, list | tuple) else [result]
    if result is None or not returned or not all(isinstance(r, Store) for r in returned):
        raise ProgramError(
            f"kernel must return the store handle(s) of its outputs, got {type(result).__name__}"
        )
    left = unconsumed(graph)
    if left:
        raise ProgramError(
            f"stream never consumed: {left[0]}"
            + (f" (and {len(left) - 1} more)" if len(left) > 1 else "")
        )
    loop = feedback_error(graph.nodes)
    if loop:
        raise ProgramError(loop)
    stored = {n.attrs["tensor"] for n in graph.nodes if n.op.endswith("offchip_store")}
    missing = [
        t.name for t in graph.tensors.values() if t.role == "output" and t.name not in stored
    ]
    if missing:
        raise ProgramError(
            f"output {missing[0]!r} is never stored (use "
            f"step.linear_offchip_store(stream, {missing[0]!r}))"
        )
    return graph.program()


def trace(kernel: Callable, signature: dict) -> dict:
    """The IR of `kernel` for `signature`, as a JSON-able dict (see `build`), without the
    nodes' output types: `load_ir` derives them (see `Program.to_json`)."""
    with paused_gc():  # (a block, not a decorator: `trace` stays this module's function)
        ir = build(kernel, signature).to_json(types=False)
    _, tunable = bind_params(kernel, signature.get("params") or {})
    return ir if tunable is None else {**ir, TUNABLE_KEY: tunable}
