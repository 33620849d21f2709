"""The task-file loader: good files load, and every malformed field fails in one line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from benchmarks.generators import GeneratorError, generate
from benchmarks.task import TaskError, load_suite, load_task, parse_task

REFERENCES = """
import torch

def scale(x, M, K, **dims):
    return x * 2.0

def gen(rng, dims):
    return {"x": rng.normal(size=(dims["M"], dims["K"]))}
"""

GOOD = """
name = "scale"
dialect = "step"
description = "Multiply x by two."
target = "step_default"
reference = "references:scale"
[params]
tile = 16
[tolerance]
rtol = 1e-5
[[inputs]]
name = "x"
dtype = "float32"
shape = ["M", "K"]
init = { kind = "uniform", low = -1.0, high = 1.0 }
[[outputs]]
name = "y"
dtype = "float32"
shape = ["M", "K"]
[dims]
M = "symbolic"
K = 32
[[checks]]
M = 16
[[checks]]
M = 48
[[heldout]]
M = 80
"""


def write_suite(tmp_path: Path, body: str = GOOD, name: str = "scale") -> Path:
    suite = tmp_path / "suite"
    suite.mkdir(exist_ok=True)
    (suite / "references.py").write_text(textwrap.dedent(REFERENCES))
    path = suite / f"{name}.toml"
    path.write_text(body)
    return path


def test_good_task_loads_and_hides_check_values(tmp_path):
    task = parse_task(write_suite(tmp_path))
    assert task.key == "step/scale"
    assert task.dims == {"M": None, "K": 32}
    assert task.checks == ({"M": 16}, {"M": 48}) and task.heldout == ({"M": 80},)
    sig = task.signature({"tile": 32})
    assert sig["params"] == {"tile": 32}
    assert sig["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["M", "K"]}]
    assert "16" not in str(sig) and "80" not in str(sig)


def test_inputs_are_seeded_and_reference_runs(tmp_path):
    task = parse_task(write_suite(tmp_path))
    dims = task.full_dims({"M": 16})
    a, b, c = (task.make_inputs(dims, s) for s in (1, 1, 2))
    assert a["x"].shape == (16, 32) and a["x"].dtype == np.float32
    assert np.array_equal(a["x"], b["x"]) and not np.array_equal(a["x"], c["x"])
    assert -1.0 <= a["x"].min() and a["x"].max() <= 1.0
    out = task.reference_outputs(a, dims)
    np.testing.assert_allclose(out["y"], 2.0 * a["x"])


def test_generator_function_is_used(tmp_path):
    path = write_suite(
        tmp_path,
        GOOD.replace(
            'reference = "references:scale"',
            'reference = "references:scale"\ngenerator = "references:gen"',
        ),
    )
    task = parse_task(path)
    x = task.make_inputs(task.full_dims({"M": 4}), 0)["x"]
    assert x.shape == (4, 32) and x.min() < -1.0 or x.max() > 1.0  # normal, not uniform


@pytest.mark.parametrize(
    "change, message",
    [
        (('dialect = "step"', 'dialect = "cuda"'), "dialect 'cuda' not one of"),
        (('dtype = "float32"', 'dtype = "complex64"'), "dtype 'complex64'"),
        (('shape = ["M", "K"]', 'shape = ["M", "Q"]'), "dim 'Q' is not declared"),
        (("[[checks]]\nM = 16", "[[checks]]\nK = 16"), "must give exactly the symbolic dims"),
        (('reference = "references:scale"', 'reference = "scale"'), "'module:function'"),
        (('name = "scale"', "name = 3"), "'name' must be a non-empty string"),
        (("K = 32", "K = -1"), "dims.K"),
        (('name = "x"', 'name = "not an id"'), "must be a Python identifier"),
        (
            ('description = "Multiply x by two."', 'baseline = "missing.py"\ndescription = "d"'),
            "baseline program 'missing.py' does not exist",
        ),
    ],
)
def test_malformed_fields_fail_in_one_line(tmp_path, change, message):
    path = write_suite(tmp_path, GOOD.replace(*change, 1))
    with pytest.raises(TaskError, match=message) as info:
        parse_task(path)
    assert "\n" not in str(info.value) and str(path.name) in str(info.value)


def test_invalid_toml_and_missing_files(tmp_path):
    path = write_suite(tmp_path, "name = [")
    with pytest.raises(TaskError, match="not valid TOML"):
        parse_task(path)
    with pytest.raises(TaskError, match="no task file"):
        parse_task(tmp_path / "nope.toml")
    with pytest.raises(TaskError, match="no suite"):
        load_suite("no_such_suite")
    with pytest.raises(TaskError, match="give a .toml file or suite/name"):
        load_task("scale")


def test_suite_loading_and_lookup(tmp_path):
    path = write_suite(tmp_path)
    write_suite(tmp_path, GOOD.replace('name = "scale"', 'name = "other"'), name="zz_other")
    tasks = load_suite(path.parent)
    assert [t.name for t in tasks] == ["scale", "other"]
    assert [t.name for t in load_suite(path.parent, "oth*")] == ["other"]
    assert load_task(f"{path.parent}/other").name == "other"
    with pytest.raises(TaskError, match="no task 'ghost'"):
        load_task(f"{path.parent}/ghost")


def test_generator_library():
    rng = np.random.default_rng(0)
    z = generate({"kind": "zipf", "n": 50, "alpha": 1.2}, (1000,), "int64", rng)
    assert z.dtype == np.int64 and 0 <= z.min() and z.max() < 50
    counts = np.bincount(z, minlength=50)
    assert counts.max() > 5 * np.median(counts)  # skewed popularity
    s = generate({"kind": "sparse", "density": 0.1}, (100, 100), "float32", rng)
    assert 0.05 < (s != 0).mean() < 0.15
    with pytest.raises(GeneratorError, match="unknown init kind 'gaussian'"):
        generate({"kind": "gaussian"}, (2,), "float32", rng)
    with pytest.raises(GeneratorError, match="init kind 'normal'"):
        generate({"kind": "normal", "sigma": 2}, (2,), "float32", rng)
