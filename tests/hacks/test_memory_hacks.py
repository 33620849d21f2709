"""Memory hacks through `agent chat`: a program checked against the user's own PyTorch
reference (`--reference FILE.py:FN --shapes ...`) is verified for THAT function on THOSE
shapes only, so it must never be filed under a suite task or under the same function on
other shapes.

| hack | before (this session's tree) | now |
| `add.py:rmsnorm` returning its input, any kernel that copies x, `/save` | filed as memory's
  best for the suite task `step/add_rmsnorm` (the user task's key was `dialect/stem_fn`) |
  the user task has its own key `step/add_rmsnorm@<digest>` |
| `agent chat --task my/gemm.toml`: a copy of step/gemm.toml beside a references.py whose
  `gemm` returns zeros, a kernel storing zeros, `/save` | filed as memory's best for
  `step/gemm` | a task file outside the suites has the key `step/gemm@<digest>` |
| the same function checked on 2x2 shapes, then worked on at 512x512 | the 2x2 program's cycles
  are the 512x512 task's best | each shape set (and reference text) is its own task |
"""

from __future__ import annotations

import shutil

from agents.chat.session import task_of
from agents.chat.user_task import task_from_reference
from benchmarks.task import SUITES_DIR, load_suite
from memory.store import ExperienceStore

IDENTITY = "def rmsnorm(x):\n    return x\n"
COPY = """
from dsl import step


def kernel(x):
    return step.linear_offchip_store(step.linear_offchip_load(x, (4, 4)), "out")
"""
PASSED = {"status": "passed", "correct": True, "cycles": 3, "feedback": ""}


def test_a_users_function_never_takes_a_suite_tasks_key(tmp_path) -> None:
    (tmp_path / "add.py").write_text(IDENTITY)
    task = task_from_reference(f"{tmp_path}/add.py:rmsnorm", "x=4x4")
    suite = {t.key for t in load_suite("step")}
    assert "step/add_rmsnorm" in suite and task.key not in suite
    assert task.key.startswith("step/add_rmsnorm@")
    store = ExperienceStore(tmp_path / "memory.sqlite")
    store.record_attempt(task=task, program=COPY, model="user", prompt_hash="chat", verdict=PASSED)
    assert store.best("step/add_rmsnorm") is None
    assert store.best(task.key).cycles == 3


def test_other_shapes_or_another_reference_text_are_another_task(tmp_path) -> None:
    (tmp_path / "add.py").write_text(IDENTITY)
    small = task_from_reference(f"{tmp_path}/add.py:rmsnorm", "x=2x2")
    again = task_from_reference(f"{tmp_path}/add.py:rmsnorm", "x=2x2")
    large = task_from_reference(f"{tmp_path}/add.py:rmsnorm", "x=512x512")
    assert small.key == again.key and small.key != large.key
    (tmp_path / "add.py").write_text(IDENTITY.replace("return x", "return 2 * x"))
    edited = task_from_reference(f"{tmp_path}/add.py:rmsnorm", "x=2x2")
    assert edited.key != small.key


def test_a_task_file_outside_the_suites_never_takes_a_suite_tasks_key(tmp_path) -> None:
    shutil.copy(SUITES_DIR / "step" / "gemm.toml", tmp_path / "gemm.toml")
    (tmp_path / "references.py").write_text(
        "import torch\n\ndef gemm(a, b):\n    return torch.zeros(a.shape[0], b.shape[1])\n"
    )
    mine = task_of({"ref": str(tmp_path / "gemm.toml")})
    assert mine.key.startswith("step/gemm@") and mine.key != "step/gemm"
    assert task_of({"ref": str(SUITES_DIR / "step" / "gemm.toml")}).key == "step/gemm"
    assert task_of({"ref": "step/gemm"}).key == "step/gemm"
