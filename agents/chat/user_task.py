"""A task from the user's own PyTorch function (`agent chat --reference FILE.py:FN --shapes`).

The function becomes the reference the verifier checks against, exactly as a suite's
`references.py` function does: the `Task` points at the file's module and function, so
nothing is copied and no task file is written. Its outputs (names, shapes, dtypes) are found
by calling it once on inputs of the given shapes — it is the user's own code, run in the
user's own process, as `python FILE.py` would.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from agents.tools import ToolError

DEFAULT_TARGETS = {"step": "step_default", "sam": "sam_comal", "dae": "dae_default"}
DTYPES = ("float32", "float64", "float16", "int32", "int64", "bool")


def parse_shapes(text: str) -> list[tuple[str, tuple[int, ...], str]]:
    """`a=64x128,b=128x64:float64` -> [(name, shape, dtype)] (dtype float32 by default)."""
    shapes = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"([A-Za-z_]\w*)=(\d+(?:x\d+)*)(?::(\w+))?", part)
        if not match:
            raise ToolError(f"shape {part!r}: write NAME=DIMxDIM[:dtype], e.g. a=64x128")
        dtype = match.group(3) or "float32"
        if dtype not in DTYPES:
            raise ToolError(f"shape {part!r}: dtype {dtype!r} is not one of {', '.join(DTYPES)}")
        shapes.append((match.group(1), tuple(int(d) for d in match.group(2).split("x")), dtype))
    if not shapes:
        raise ToolError("--shapes names no input: e.g. --shapes a=64x128,b=128x64")
    return shapes


def _identity(path: Path, inputs: tuple) -> str:
    """What the task's verdicts hold for: the reference's text and the input shapes. Memory
    files a program under the task key, so `@digest` keeps a program checked on this function
    and these shapes from passing as the best of a suite task (`add.py:rmsnorm` is not
    `step/add_rmsnorm`) or of the same function on other shapes."""
    shown = repr([(i.name, tuple(i.shape), i.dtype) for i in inputs]).encode()
    return hashlib.sha256(path.read_bytes() + b"\0" + shown).hexdigest()[:8]


def own_task(task: Any) -> Any:
    """A task file from outside the suites under a key of its own: its `name` may be a suite
    task's (`name = "gemm"` beside a reference of the user's), and memory files programs by
    key, so `@digest` of the file and its reference module keeps them apart."""
    from benchmarks.task import SUITES_DIR

    if task.path.resolve().is_relative_to(SUITES_DIR.resolve()):
        return task
    module = task.path.parent / f"{task.reference.partition(':')[0]}.py"
    text = task.path.read_bytes() + b"\0" + module.read_bytes()
    return replace(task, name=f"{task.name}@{hashlib.sha256(text).hexdigest()[:8]}")


def task_from_reference(reference: str, shapes: str, dialect: str = "step") -> Any:
    """A `Task` whose reference is `FN` in `FILE.py`, on inputs of `shapes` (static dims)."""
    import numpy as np
    import torch

    from benchmarks.task import Task, TaskError, TensorSpec

    file, _, fn = reference.rpartition(":")
    path = Path(file).expanduser().resolve()
    if not file or not fn.isidentifier() or path.suffix != ".py":
        raise ToolError(f"reference {reference!r}: give FILE.py:FUNCTION")
    if not path.is_file():
        raise ToolError(f"reference {reference!r}: no file {path}")
    if dialect not in DEFAULT_TARGETS:
        raise ToolError(f"dialect {dialect!r}: one of {', '.join(DEFAULT_TARGETS)}")
    inputs = tuple(
        TensorSpec(
            name,
            dtype,
            shape,
            {"kind": "normal"} if "float" in dtype else {"kind": "randint", "low": 0, "high": 8},
        )
        for name, shape, dtype in parse_shapes(shapes)
    )
    draft = Task(
        name=f"{path.stem}_{fn}@{_identity(path, inputs)}",
        dialect=dialect,
        suite="user",
        path=path.with_name(f"{fn}.toml"),  # never written: names the folder of the module
        description=f"The user's PyTorch function {fn} in {path}.",
        target=DEFAULT_TARGETS[dialect],
        reference=f"{path.stem}:{fn}",
        generator=None,
        baseline=None,
        inputs=inputs,
        outputs=(TensorSpec("out", "float32", ()),),
        dims={},
        checks=({},),
        heldout=(),
    )
    arrays = draft.make_inputs({}, seed=0)
    try:
        function = draft._function(draft.reference)
        with torch.no_grad():
            result = function(**{k: torch.from_numpy(v) for k, v in arrays.items()})
    except TaskError as exc:
        raise ToolError(" ".join(str(exc).split())) from None
    except Exception as exc:  # the user's function failed on these shapes: say where
        raise ToolError(
            f"{reference} failed on the given shapes: {type(exc).__name__}: {exc}"
        ) from None
    produced = result if isinstance(result, dict) else {"out": result}
    outputs = []
    for name, value in produced.items():
        array = np.asarray(value.detach() if hasattr(value, "detach") else value)
        outputs.append(TensorSpec(str(name), str(array.dtype), tuple(array.shape)))
    return replace(draft, outputs=tuple(outputs))
