"""What makes two tasks similar, as plain sets of words.

Recall compares op names (the dialect calls a program makes, the function names a task's
spec asks for) and description words. Both are extracted here, without running anything:
programs are parsed with `ast`, never executed.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.task import Task

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Words too common in task descriptions to say anything about similarity.
_STOPWORDS = frozenset(
    """a an and are as at be by each every for from given has in into is it its of on one or
    over per that the then this to two using with without where which while whose same
    all any both out than their these those input inputs output outputs tensor tensors
    compute computes computed shape shapes value values symbolic dim dims float32 int64""".split()
)


def program_ops(program: str, dialect: str) -> set[str]:
    """Dialect calls in a program (`step.map(...)` -> "map") and the identifier-like string
    literals passed to calls (element functions such as fn="exp"). Empty if it does not parse."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == f"dsl.{dialect}":
            imported.update(alias.asname or alias.name for alias in node.names)
    ops: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and _root_name(func.value) == dialect:
            ops.add(func.attr.lower())
        elif isinstance(func, ast.Name) and func.id in imported:
            ops.add(func.id.lower())
        for arg in [*node.args, *(kw.value for kw in node.keywords)]:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if _IDENT.fullmatch(arg.value) and 3 <= len(arg.value) <= 40:
                    ops.add(arg.value.lower())
    return ops


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def task_ops(task: Task) -> set[str]:
    """Identifier-like strings anywhere in a task's spec (op and function names such as
    "softmax", "matmul"), plus the words of its name (`gemm_silu` -> gemm, silu). The
    task's own tensor and dim names and very short strings are left out: every task has
    an `x` and an `M`, so they say nothing about similarity."""
    local = {t.name.lower() for t in (*task.inputs, *task.outputs)} | {d.lower() for d in task.dims}
    found = {w.lower() for w in task.name.split("_") if _WORD.fullmatch(w)}
    for value in _strings(task.spec):
        if _IDENT.fullmatch(value) and len(value) <= 40:
            found.add(value.lower())
    return {w for w in found if len(w) >= 3 and not w.isdigit()} - local - _STOPWORDS


# Spec keys whose values name the task's own tensors rather than operations.
_NAMING_KEYS = frozenset(
    {"out", "outs", "output", "outputs", "name", "args", "inputs", "rows", "cols"}
)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in _NAMING_KEYS:
                yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def description_words(text: str) -> set[str]:
    """The salient words of a task's name and description (no stopwords, none shorter than
    three letters): what a text match between two tasks is judged on."""
    return {w for w in _WORD.findall(text.lower()) if len(w) >= 3 and w not in _STOPWORDS}


def task_features(task: Task) -> dict[str, Any]:
    """The shape of a task, apart from what it computes: how many dims are symbolic, the
    ranks of its inputs, and the size of its static part (log2 of the product of the static
    dims). Two tasks alike in these take programs of the same structure."""
    static = [v for v in task.dims.values() if v is not None]
    return {
        "dynamic": sum(1 for v in task.dims.values() if v is None),
        "ranks": [len(t.shape) for t in task.inputs],
        "size": round(math.log2(math.prod(static)), 2) if static and all(static) else None,
    }


SIZE_NEAR_LOG2 = 2.0
"""Static sizes within a factor of 4 count as alike."""


def feature_points(mine: dict[str, Any], theirs: dict[str, Any]) -> int:
    """0-3: whether both tasks have symbolic dims (or both none), the same input ranks, and
    static sizes within a factor of 4. Weak signals: they order examples that share an
    operation or words, never make an unrelated task relevant. Missing features (a task
    stored before they were kept, or imported) score nothing."""
    if not mine or not theirs:
        return 0
    points = 0
    if "dynamic" in mine and "dynamic" in theirs:
        points += (mine["dynamic"] > 0) == (theirs["dynamic"] > 0)
    if mine.get("ranks") is not None and mine.get("ranks") == theirs.get("ranks"):
        points += 1
    a, b = mine.get("size"), theirs.get("size")
    if a is not None and b is not None and abs(a - b) <= SIZE_NEAR_LOG2:
        points += 1
    return points
