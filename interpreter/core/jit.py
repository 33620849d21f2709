"""Plain-Python loops that numba compiles only when an input is large enough to pay for it.

Why: importing numba and loading a kernel's cached machine code costs a process most of a
second of CPU (0.3-0.4 s import, as much to load numba's compiler extensions on the first
use, `_numba`, then ~0.05 s per kernel), more than a task-sized program's whole
simulation. So a kernel is written once, as plain Python on numpy arrays and ints, and
`Kernel.pick(size)` returns it as it is for a small input and compiled for a large one, or
once the process has run enough through the plain loop to have paid for compiling (or
whenever it is compiled already: then it is free). A process that only simulates small
programs never imports numba.

Every kernel module lists itself in `KERNELS` and has a `warm_up()` that compiles its
kernels and calls them once (numba compiles on the first call); `./scripts/setup.sh` runs
`warm_up()` here, so no run on a set-up machine pays numba's compile (15-20 s for the
solver). Numba caches the code beside the module's source, or in a per-user folder when
that is read-only, and recompiles when the source changes.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Sequence

# From this many elements (the caller's measure of its input: steps + tokens, steps, ...) a
# kernel runs compiled: below, its plain loop takes about 0.1 s at most, under the cost of
# loading numba and the cached code.
COMPILE_FROM = 20_000

# Modules holding numba kernels, each with a `warm_up()` (see the module docstring).
KERNELS = (
    "interpreter.core.channels",
    "interpreter.sam.critical_path_kernel",
    "interpreter.step.hbm_kernel",
    "interpreter.dae.cache_kernel",
    "interpreter.dae.queue_kernel",
)


def compile_kernel(
    function: Callable, helpers: Sequence[Callable] = (), allocates: bool = True
) -> Callable:
    """`function` compiled by numba (cached on disk), the plain-Python `helpers` it calls
    (functions of its module) compiled from the same source, so the compiled kernel and
    the plain one are one source. Helpers are inlined into their callers: numba does not
    inline one compiled function into another by itself, and a call passes every array as
    a struct (and counts its references), which cost the solver's visits, ten small
    helper calls each, about a tenth of their time on SAM's SpMV at depth 2.

    A kernel that `allocates` no array (its caller passes all it writes) is compiled
    without numba's reference counts (`_nrt=False`): numba counts one, with an atomic
    instruction, each time an array gets a new name, which an inlined helper's arguments
    do at every call; on the solver's visits that was a quarter of their time. (numba's
    cache does not tell the two apart: the kernel's module, which sets it, changes with
    it, and that makes numba recompile.)"""
    numba = _numba()
    namespace = dict(function.__globals__)
    counted = {} if allocates else {"_nrt": False}

    def jit(f: Callable, **options) -> Callable:
        copy = types.FunctionType(f.__code__, namespace, f.__name__, f.__defaults__)
        copy.__qualname__, copy.__module__ = f.__qualname__, f.__module__
        return numba.njit(cache=True, **counted, **options)(copy)

    for helper in helpers:
        namespace[helper.__name__] = jit(helper, inline="always")
    return jit(function)


# Modules numba's compiler extensions import on their first load only to support calls no
# kernel here makes: scipy.linalg (a probe for a BLAS: 0.3 s of CPU) and cffi (its C parser,
# 0.1 s). See `_numba`.
UNUSED_BY_KERNELS = ("scipy.linalg", "cffi")


_loaded = False  # whether this process has loaded numba's compiler (`_numba`)


def _numba():
    """numba, with its compiler's extensions loaded (numba loads them on the first compile
    or cache load: most of the ~0.7 s a process pays to load the solver's cached loop).
    Those extensions import `UNUSED_BY_KERNELS` to support BLAS and cffi calls in compiled
    code, which no kernel here makes: while they load, a module of that list that is not
    imported yet is absent (an ImportError, which they take as "not supported"), and it
    imports as usual afterwards."""
    import numba
    from numba.core.registry import cpu_target

    absent = [name for name in UNUSED_BY_KERNELS if name not in sys.modules]
    for name in absent:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        cpu_target.target_context.refresh()
    finally:
        for name in absent:
            del sys.modules[name]
    global _loaded
    _loaded = True
    return numba


class Kernel:
    """A plain-Python kernel (with the helpers it calls) and, once needed, its compiled
    twin: `pick(size)` says which to run on an input of `size` elements."""

    def __init__(
        self,
        function: Callable,
        helpers: Sequence[Callable] = (),
        compile_from: int = COMPILE_FROM,
        allocates: bool = True,
        once_loaded_from: int | None = None,
    ) -> None:
        self.plain, self.helpers, self.compile_from = function, tuple(helpers), compile_from
        self.allocates = allocates  # (see `compile_kernel`)
        # once numba is loaded (another kernel ran compiled), compiling this one costs only
        # loading its cached code (~0.01 s): a slow plain loop pays for that sooner
        self.once_loaded_from = compile_from if once_loaded_from is None else once_loaded_from
        self._compiled: Callable | None = None
        self._plain_work = 0  # elements this process has run through the plain loop

    def compiled(self) -> Callable:
        if self._compiled is None:
            self._compiled = compile_kernel(self.plain, self.helpers, self.allocates)
        return self._compiled

    def pick(self, size: int) -> Callable:
        """Plain until the plain loop's work in this process, this input's included, reaches
        `compile_from` (what loading the compiled code costs, in elements): one large input
        compiles at once, and a long run of medium ones (a tuner, a benchmark) compiles
        after paying at most that much extra (ski rental), while a one-off small evaluation
        never does. Once numba is loaded, `once_loaded_from` stands for `compile_from`."""
        if self._compiled is None:
            self._plain_work += size
            if self._plain_work < (self.once_loaded_from if _loaded else self.compile_from):
                return self.plain
        return self.compiled()


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel of the project, calling each once."""
    for name in KERNELS:
        importlib.import_module(name).warm_up()


if __name__ == "__main__":
    warm_up()
