"""The task format: one TOML file per task, loaded and checked here.

A task says what to compute (a description for the model and a PyTorch reference), on
which inputs (names, dtypes, symbolic dimensions, seeded generators), how closely
(tolerances), on which hardware model, and against which baseline program (a file
several tasks may share, run at each task's `baseline_params`). See
docs/interfaces.md for an example file. Everything in a task file is checked when it is
loaded, so a malformed task fails with one line naming the file and the field instead of
surfacing later inside a verifier run.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import logging
import sys
import tomllib
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from benchmarks.generators import GeneratorError, check_init, generate
from dsl.core.errors import ProgramError
from dsl.core.params import as_domain, contains

log = logging.getLogger(__name__)

SUITES_DIR = Path(__file__).parent
DTYPES = ("float32", "float64", "float16", "int32", "int64", "bool")
DIALECTS = ("step", "sam", "dae")


class TaskError(ValueError):
    """A task file or task reference that cannot be used (the message names file and field)."""


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a task. `extra` keeps dialect-specific keys such as `format`."""

    name: str
    dtype: str
    shape: tuple[str | int, ...]
    init: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def resolve(self, dims: dict[str, int]) -> tuple[int, ...]:
        return tuple(d if isinstance(d, int) else dims[d] for d in self.shape)

    def to_signature(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape), **self.extra}


@dataclass(frozen=True)
class Task:
    """A loaded, checked task."""

    name: str
    dialect: str
    suite: str
    path: Path
    description: str
    target: str
    reference: str
    generator: str | None
    baseline: str | None
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    dims: dict[str, int | None]
    checks: tuple[dict[str, int], ...]
    heldout: tuple[dict[str, int], ...]
    rtol: float = 1e-4
    atol: float = 1e-4
    spec: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    constant_inputs: tuple[str, ...] = ()
    baseline_params: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.dialect}/{self.name}"

    @property
    def folder(self) -> Path:
        return self.path.parent

    def signature(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the sandboxed program sees: names, dtypes, symbolic shapes, parameters.

        Check and held-out dimension values are deliberately absent.
        """
        merged = dict(self.params)
        if params:
            merged.update(params)
        return {
            "dialect": self.dialect,
            "inputs": [t.to_signature() for t in self.inputs],
            "outputs": [t.to_signature() for t in self.outputs],
            "dims": dict(self.dims),
            "params": merged,
        }

    def full_dims(self, assignment: dict[str, int]) -> dict[str, int]:
        """Static dims plus one check (or held-out) assignment of the symbolic ones."""
        dims = {k: v for k, v in self.dims.items() if v is not None}
        dims.update(assignment)
        return dims

    def make_inputs(self, dims: dict[str, int], seed: int) -> dict[str, np.ndarray]:
        """Fresh inputs for one check, from the task's generator or per-input `init`."""
        rng = np.random.default_rng(seed)
        if self.generator:
            produced = self._function(self.generator)(rng, dict(dims))
            if not isinstance(produced, dict):
                raise TaskError(f"{self.path}: generator {self.generator} must return a dict")
        else:
            produced = {}
        arrays: dict[str, np.ndarray] = {}
        for spec in self.inputs:
            shape = spec.resolve(dims)
            if spec.name in produced:
                array = np.ascontiguousarray(np.asarray(produced[spec.name]), dtype=spec.dtype)
            else:
                array = generate(spec.init, shape, spec.dtype, rng)
            if array.shape != shape:
                raise TaskError(
                    f"{self.path}: input {spec.name!r} generated with shape {array.shape},"
                    f" declared {shape} for dims {dims}"
                )
            arrays[spec.name] = array
        return arrays

    def repeated_inputs(self) -> list[str]:
        """Inputs that two runs with different seeds draw identically, apart from those the
        task declares constant (`constant_inputs`, e.g. a table of rotary angles).

        A fixed input lets a program that recognises it (a dataset's graph) or an output
        that only depends on it pass every check; a task should redraw it per run (fresh
        values or a fresh permutation) or declare why it is constant.
        """
        suspects = [s.name for s in self.inputs if s.name not in self.constant_inputs]
        # The smallest check first: most tasks clear every suspect there, cheaply.
        for check in sorted(self.checks, key=lambda c: sum(c.values())):
            dims = self.full_dims(check)
            first, second = self.make_inputs(dims, 1), self.make_inputs(dims, 2)
            suspects = [n for n in suspects if np.array_equal(first[n], second[n])]
            if not suspects:
                break
        return suspects

    def reference_outputs(
        self, inputs: dict[str, np.ndarray], dims: dict[str, int]
    ) -> dict[str, np.ndarray]:
        """The PyTorch reference's outputs (trusted side only), computed with torch on one
        thread, the caller's count restored after. On task-sized tensors torch's OpenMP
        split costs far more than the work (moe_layer_qwen's `index_add_`: 4-7 ms a call on
        one thread, 0.2-0.5 s on two at load 7; mp_max's `scatter_reduce`: 2 ms and 90 ms),
        and one thread everywhere means no verdict depends on the cores of the process that
        computed it (every shipped reference is bit-identical on two threads: tested)."""
        import torch

        tensors = {k: torch.from_numpy(np.array(v, copy=True)) for k, v in inputs.items()}
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                result = self._function(self.reference)(**tensors, **dims)
        finally:
            torch.set_num_threads(threads)
        if not isinstance(result, dict):
            if len(self.outputs) != 1:
                raise TaskError(
                    f"{self.path}: reference must return a dict of {len(self.outputs)} outputs"
                )
            result = {self.outputs[0].name: result}
        out: dict[str, np.ndarray] = {}
        for spec in self.outputs:
            if spec.name not in result:
                raise TaskError(f"{self.path}: reference did not return output {spec.name!r}")
            value = result[spec.name]
            array = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
            out[spec.name] = array.astype(spec.dtype, copy=False)
        return out

    def baseline_source(self) -> str | None:
        """The baseline program's text. A baseline file shared by tasks that differ only in
        the values of its tunable parameters gets this task's `baseline_params` as its
        defaults, in the form `agent tune` records tuned programs in, so the text runs as
        this task's baseline wherever it goes (verifier, eval, reports)."""
        if self.baseline is None:
            return None
        return self.with_baseline_params((self.folder / self.baseline).read_text())

    def with_baseline_params(self, source: str) -> str:
        """`source` (the baseline file's text) with this task's `baseline_params` as its
        kernel's defaults; unchanged when the task gives none."""
        if not self.baseline_params:
            return source
        values = ", ".join(f"{k}={v!r}" for k, v in self.baseline_params.items())
        return (
            f"{source.rstrip()}\n\n\n"
            f"# {self.name}'s values (baseline_params in its task file).\n"
            f"kernel = {self.dialect}.tunable.with_defaults(kernel, {values})\n"
        )

    def _function(self, ref: str):
        module_name, _, attr = ref.partition(":")
        module = _suite_module(self.folder / f"{module_name}.py")
        fn = getattr(module, attr, None)
        if fn is None:
            raise TaskError(f"{self.path}: {module_name}.py has no function {attr!r}")
        return fn


@cache
def _suite_module(path: Path) -> ModuleType:
    """Import a suite's helper module (references, generators) from its file."""
    if not path.is_file():
        raise TaskError(f"no module {path}")
    name = f"_suite_{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------- loading


def _fail(path: Path, message: str) -> TaskError:
    return TaskError(f"{path}: {message}")


def _tensor_specs(
    path: Path, entries: Any, kind: str, dims: dict[str, int | None]
) -> tuple[TensorSpec, ...]:
    if not isinstance(entries, list) or not entries:
        raise _fail(path, f"needs at least one [[{kind}]] table")
    specs = []
    for i, entry in enumerate(entries):
        where = f"{kind}[{i}]"
        if not isinstance(entry, dict):
            raise _fail(path, f"{where} must be a table")
        entry = dict(entry)
        name = entry.pop("name", None)
        if not isinstance(name, str) or not name.isidentifier():
            raise _fail(path, f"{where}.name must be a Python identifier, got {name!r}")
        dtype = entry.pop("dtype", "float32")
        if dtype not in DTYPES:
            raise _fail(path, f"{where} ({name}): dtype {dtype!r} not one of {', '.join(DTYPES)}")
        shape = entry.pop("shape", None)
        if not isinstance(shape, list):
            raise _fail(path, f"{where} ({name}): shape must be a list of dim names or ints")
        for d in shape:
            if isinstance(d, str) and d not in dims:
                raise _fail(path, f"{where} ({name}): dim {d!r} is not declared in [dims]")
            if not isinstance(d, (str, int)) or (isinstance(d, int) and d < 0):
                raise _fail(path, f"{where} ({name}): bad dim {d!r}")
        init = entry.pop("init", {})
        if not isinstance(init, dict):
            raise _fail(path, f"{where} ({name}): init must be a table")
        try:
            check_init(init)
        except GeneratorError as exc:
            raise _fail(path, f"{where} ({name}).init: {exc}") from None
        specs.append(TensorSpec(name, dtype, tuple(shape), init, entry))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise _fail(path, f"duplicate {kind} names in {names}")
    return tuple(specs)


def _assignments(
    path: Path, raw: Any, kind: str, dims: dict[str, int | None]
) -> tuple[dict[str, int], ...]:
    symbolic = {k for k, v in dims.items() if v is None}
    raw = raw or []
    if not isinstance(raw, list):
        raise _fail(path, f"[[{kind}]] must be an array of tables")
    out = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise _fail(path, f"{kind}[{i}] must be a table")
        if set(entry) != symbolic:
            raise _fail(
                path,
                f"{kind}[{i}] must give exactly the symbolic dims {sorted(symbolic)}, got {sorted(entry)}",
            )
        for k, v in entry.items():
            if not isinstance(v, int) or v < 0:
                raise _fail(path, f"{kind}[{i}].{k} must be a non-negative int, got {v!r}")
        out.append(dict(entry))
    if symbolic and not out and kind == "checks":
        raise _fail(path, "symbolic dims need at least one [[checks]] table")
    return tuple(out)


def parse_task(path: Path) -> Task:
    """Load and check one task file."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise TaskError(f"no task file {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"not valid TOML: {exc}") from None

    def text(key: str, required: bool = True) -> str | None:
        value = data.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise _fail(path, f"{key!r} must be a non-empty string")
        return value

    name = text("name")
    dialect = text("dialect")
    if dialect not in DIALECTS:
        raise _fail(path, f"dialect {dialect!r} not one of {', '.join(DIALECTS)}")
    raw_dims = data.get("dims", {})
    if not isinstance(raw_dims, dict):
        raise _fail(path, "[dims] must be a table")
    dims: dict[str, int | None] = {}
    for k, v in raw_dims.items():
        if v == "symbolic":
            dims[k] = None
        elif isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            dims[k] = v
        else:
            raise _fail(path, f'dims.{k} must be a non-negative int or "symbolic", got {v!r}')
    for ref_key in ("reference", "generator"):
        value = data.get(ref_key)
        if value is not None and (not isinstance(value, str) or ":" not in value):
            raise _fail(path, f"{ref_key!r} must look like 'module:function', got {value!r}")
        if value is not None and not (path.parent / f"{value.partition(':')[0]}.py").is_file():
            module = value.partition(":")[0]
            raise _fail(path, f"{ref_key} module {module}.py must lie beside the task file")
    if "reference" not in data:
        raise _fail(path, "'reference' is required")
    baseline = text("baseline", required=False)
    if baseline is not None and not (path.parent / baseline).is_file():
        # A suite must ship its baselines; a task file copied out on its own runs without
        # one (no speedup is reported).
        if path.resolve().is_relative_to(SUITES_DIR.resolve()):
            raise _fail(path, f"baseline program {baseline!r} does not exist")
        log.info("%s: baseline %s not found beside it; no speedup will be reported", path, baseline)
        baseline = None
    tolerance = data.get("tolerance", {})
    for section in ("spec", "params", "tolerance"):
        if not isinstance(data.get(section, {}), dict):
            raise _fail(path, f"[{section}] must be a table")
    task = Task(
        name=name,
        dialect=dialect,
        suite=path.parent.name,
        path=path.resolve(),
        description=text("description"),
        target=text("target"),
        reference=data["reference"],
        generator=data.get("generator"),
        baseline=baseline,
        inputs=_tensor_specs(path, data.get("inputs"), "inputs", dims),
        outputs=_tensor_specs(path, data.get("outputs"), "outputs", dims),
        dims=dims,
        checks=_assignments(path, data.get("checks"), "checks", dims),
        heldout=_assignments(path, data.get("heldout"), "heldout", dims),
        rtol=float(tolerance.get("rtol", 1e-4)),
        atol=float(tolerance.get("atol", 1e-4)),
        spec=dict(data.get("spec", {})),
        params=dict(data.get("params", {})),
    )
    constant = data.get("constant_inputs", [])
    known = {t.name for t in task.inputs}
    if not isinstance(constant, list) or not set(constant) <= known:
        raise _fail(
            path, f"constant_inputs must list input names of {sorted(known)}, got {constant!r}"
        )
    task = replace(task, constant_inputs=tuple(constant))
    raw_params = data.get("baseline_params", {})
    if not isinstance(raw_params, dict):
        raise _fail(path, "baseline_params must be a table")
    if raw_params and "baseline" not in data:
        raise _fail(path, "baseline_params needs a baseline program to pass them to")
    if raw_params and baseline is not None:
        _check_baseline_params(path, path.parent / baseline, raw_params)
        task = replace(task, baseline_params=dict(raw_params))
    if not task.checks:  # all dims static: one check with no symbolic assignment
        task = replace(task, checks=({},))
    return task


def _check_baseline_params(path: Path, program: Path, given: dict[str, Any]) -> None:
    """Every one of `given` is a parameter the baseline declares with `@<dialect>.tunable`,
    and lies in its domain where the domain is a literal list. Read from the program's
    syntax, never run: a task file loads without executing program text."""
    try:
        tree = ast.parse(program.read_text(), filename=str(program))
    except SyntaxError as exc:
        raise _fail(path, f"baseline program {program.name} is not valid Python: {exc}") from None
    kernels = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "kernel"]
    calls = [d for k in kernels for d in k.decorator_list if isinstance(d, ast.Call)]
    domains = {
        keyword.arg: keyword.value
        for call in calls
        if isinstance(call.func, ast.Attribute) and call.func.attr == "tunable"
        for keyword in call.keywords
        if keyword.arg not in (None, "constraints")
    }
    for name, value in given.items():
        if name not in domains:
            declared = ", ".join(sorted(domains)) or "none"
            raise _fail(
                path,
                f"baseline_params.{name}: {program.name} declares no tunable {name!r}"
                f" (declared: {declared})",
            )
        try:
            values = ast.literal_eval(domains[name])
            domain = as_domain(name, values)
        except (ValueError, TypeError, SyntaxError, ProgramError):  # range(...), tunable.*:
            continue  # checked when the baseline runs
        if not contains(domain, value):  # the membership `tunable.with_defaults` applies
            raise _fail(
                path,
                f"baseline_params.{name} = {value!r} is outside {program.name}'s domain {values}",
            )


def suite_dir(name_or_path: str | Path) -> Path:
    """`benchmarks/step`, `step` or any folder of task files. A folder in the working
    directory that holds no task file (say a `dae/` of notes) does not hide the shipped
    suite of that name."""
    path = Path(name_or_path)
    if path.is_dir() and (any(path.glob("*.toml")) or not (SUITES_DIR / path).is_dir()):
        return path
    candidate = SUITES_DIR / str(name_or_path)
    if candidate.is_dir() and any(candidate.glob("*.toml")):
        return candidate
    known = sorted(p.name for p in SUITES_DIR.iterdir() if p.is_dir() and any(p.glob("*.toml")))
    raise TaskError(f"no suite {str(name_or_path)!r}; known suites: {', '.join(known) or 'none'}")


def load_suite(name_or_path: str | Path, pattern: str | None = None) -> list[Task]:
    """Every task of a suite, sorted by name; `pattern` filters names with a glob."""
    folder = suite_dir(name_or_path)
    tasks = [parse_task(p) for p in sorted(folder.glob("*.toml"))]
    if pattern:
        tasks = [t for t in tasks if fnmatch.fnmatch(t.name, pattern)]
    names = [t.name for t in tasks]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise TaskError(f"{folder}: duplicate task names {sorted(duplicates)}")
    return tasks


def warn_repeated_inputs(task: Task) -> None:
    """Log a warning when the task draws an input identically in every check. Done when one
    task is loaded for its author (`agent eval TASK`), not for every suite listing: drawing
    inputs costs up to ~0.1 s a task. The shipped suites are held to it by a test."""
    try:
        repeated = repeated_inputs_of(task)
    except Exception as exc:  # the verifier reports a broken generator; this is advice
        log.warning("%s: cannot draw its inputs: %s: %s", task.path, type(exc).__name__, exc)
        return
    if repeated:
        log.warning(
            "%s: inputs %s are identical in every check; redraw them per run or list"
            " them in constant_inputs",
            task.path,
            ", ".join(repeated),
        )


# `Task.repeated_inputs` by task file version (`_version`). A warm eval server fills it for
# the shipped suites before it forks its evaluations (agents.eval_server).
REPEATED: dict[tuple[str, int, int], tuple[str, ...]] = {}


def repeated_inputs_of(task: Task) -> tuple[str, ...]:
    """`Task.repeated_inputs`, drawn once per task file version."""
    key = _version(task.path)
    if key not in REPEATED:
        REPEATED[key] = tuple(task.repeated_inputs())
    return REPEATED[key]


def _version(path: Path) -> tuple[str, int, int]:
    """A task file's absolute path, modification time and size."""
    info = path.stat()
    return str(path.resolve()), info.st_mtime_ns, info.st_size


def suites_repeated_inputs() -> list[tuple[str, int, int, tuple[str, ...]]]:
    """`repeated_inputs_of` every task of the shipped suites (~1 s), as (path, mtime, size,
    inputs); a task that fails to load or to draw is left out (its evaluation says why)."""
    found = []
    for folder in sorted(SUITES_DIR.iterdir()):
        for path in sorted(folder.glob("*.toml")):
            try:
                found.append((*_version(path), repeated_inputs_of(parse_task(path))))
            except Exception:
                continue
    return found


def load_task(ref: str | Path) -> Task:
    """A task file path, or `suite/name` (`step/gemm_64`)."""
    path = Path(ref)
    if path.suffix == ".toml":
        return parse_task(path)
    suite, _, name = str(ref).rpartition("/")
    if not suite:
        raise TaskError(f"task {str(ref)!r}: give a .toml file or suite/name")
    folder = suite_dir(suite)
    candidate = folder / f"{name}.toml"
    if candidate.is_file():
        return parse_task(candidate)
    for task in load_suite(folder):  # file name may differ from the task's name
        if task.name == name:
            return task
    raise TaskError(f"no task {name!r} in suite {folder}")
