"""The lazy numba kernels: plain Python below the threshold, compiled (helpers too) from
it or once compiled, and every kernel module reachable by set-up's warm-up."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from interpreter.core import jit


def _halve(x):
    return x // 2


def _sum_of_halves(values):
    total = 0
    for v in values:
        total += _halve(v)
    return total


@pytest.mark.slow  # numba compiles (or loads) two functions: ~4 s
def test_pick_runs_plain_below_the_threshold_and_compiled_from_it():
    kernel = jit.Kernel(_sum_of_halves, [_halve], compile_from=100)
    assert kernel.pick(99) is _sum_of_halves
    compiled = kernel.pick(100)
    assert compiled is not _sum_of_halves and compiled is kernel.compiled()
    assert kernel.pick(1) is compiled  # once paid for, the compiled loop is free
    # many medium inputs: plain until their total reaches the threshold, then compiled
    medium = jit.Kernel(_sum_of_halves, [_halve], compile_from=100)
    assert [medium.pick(30) is _sum_of_halves for _ in range(4)] == [True, True, True, False]
    values = np.array([7, 9, -3, 4], dtype=np.int64)
    assert compiled(values) == _sum_of_halves(values) == 3 + 4 - 2 + 2
    # the helper the compiled kernel calls is compiled too (a plain one would not type)
    assert hasattr(compiled, "signatures") and compiled.signatures


def _count_odd(values):
    n = 0
    for v in values:
        n += _halve(v) * 2 != v
    return n


@pytest.mark.slow  # numba compiles (or loads) two functions: ~4 s
def test_a_kernel_that_allocates_nothing_runs_without_reference_counts():
    compiled = jit.Kernel(_count_odd, [_halve], allocates=False).compiled()
    values = np.array([7, 9, -3, 4], dtype=np.int64)
    assert compiled(values) == _count_odd(values) == 3
    assert compiled.targetoptions["_nrt"] is False
    # numba's extensions were loaded without these; they were not left unimportable
    for name in jit.UNUSED_BY_KERNELS:
        assert sys.modules.get(name, "not imported") is not None
        importlib.import_module(name)


def test_every_kernel_module_has_a_warm_up():
    for name in jit.KERNELS:
        assert callable(importlib.import_module(name).warm_up), name


def test_every_compiled_kernel_is_warmed_up_at_set_up():
    """A module that builds a `Kernel` is listed in `KERNELS` (or imported by a listed module
    whose warm-up runs it): otherwise the first large run on a set-up machine pays numba's
    compile, seconds, inside a verdict's time limit."""
    root = Path(jit.__file__).parents[2]
    listed = {root / (name.replace(".", "/") + ".py") for name in jit.KERNELS}
    listed_text = "\n".join(path.read_text() for path in listed)
    for path in sorted((root / "interpreter").rglob("*.py")):
        if path == Path(jit.__file__) or not re.search(
            r"^\w+ = (jit\.)?Kernel\(", path.read_text(), re.M
        ):
            continue
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        assert (
            path in listed
            or f"import {module.rpartition('.')[2]}" in listed_text
            or (f"from {module} import" in listed_text)
        ), f"{module} builds a Kernel but is not warmed up by jit.KERNELS"


def _twice(x):
    return 2 * x


@pytest.fixture
def kernel(monkeypatch):
    """A kernel whose compiled twin is a stand-in (no numba here)."""
    k = jit.Kernel(_twice, compile_from=100, once_loaded_from=10)
    monkeypatch.setattr(k, "compiled", lambda: "compiled")
    return k


def test_plain_until_the_work_pays_for_loading_numba(kernel, monkeypatch):
    monkeypatch.setattr(jit, "_loaded", False)
    assert kernel.pick(60) is _twice
    assert kernel.pick(39) is _twice
    assert kernel.pick(1) == "compiled"  # 100 elements of plain work


def test_once_numba_is_loaded_less_work_pays(kernel, monkeypatch):
    monkeypatch.setattr(jit, "_loaded", False)
    assert kernel.pick(9) is _twice
    monkeypatch.setattr(jit, "_loaded", True)
    assert kernel.pick(1) == "compiled"


def test_without_a_lower_threshold_loading_changes_nothing(monkeypatch):
    k = jit.Kernel(_twice, compile_from=100)
    monkeypatch.setattr(jit, "_loaded", True)
    assert k.pick(99) is _twice
