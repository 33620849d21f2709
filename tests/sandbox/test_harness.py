"""The harness's static check, and the seccomp filter it installs (unit level)."""

from __future__ import annotations

import ast
import platform
import struct
import subprocess
import sys

import pytest

from sandbox.backends import PROJECT_ROOT
from sandbox.confine import _DENIED, seccomp_program
from sandbox.harness import Refusal, check_program


def refusal(source: str, dialect: str = "step") -> Refusal | None:
    try:
        check_program(ast.parse(source), dialect)
    except Refusal as exc:
        return exc
    return None


@pytest.mark.parametrize(
    "source",
    [
        "from dsl import step",
        "import dsl.step",
        "from dsl.step import map as step_map",
        "import math, itertools, functools, dataclasses, typing, collections, operator, enum",
        "from __future__ import annotations",
        "from collections.abc import Sequence",
        "from typing import Any",
    ],
)
def test_allowed_imports_pass(source: str) -> None:
    assert refusal(source) is None


@pytest.mark.parametrize(
    "source, line, words",
    [
        ("import torch", 1, "import of 'torch' is refused"),
        ("x = 1\nimport numpy as np", 2, "import of 'numpy' is refused"),
        ("from os import path", 1, "import from 'os' is refused"),
        ("from dsl import sam", 1, "import of 'dsl.sam' is refused"),
        ("import dsl.sam", 1, "import of 'dsl.sam' is refused"),
        ("import dsl", 1, "import of 'dsl' is refused"),
        ("from . import step", 1, "relative import"),
        ("def f():\n    import subprocess", 2, "import of 'subprocess' is refused"),
        ("__import__('os')", 1, "use of '__import__' is refused"),
        ("exec('1')", 1, "use of 'exec' is refused"),
        ("f = eval", 1, "use of 'eval' is refused"),
        ("open('/etc/passwd')", 1, "use of 'open' is refused"),
    ],
)
def test_refusals_name_the_import_and_the_line(source: str, line: int, words: str) -> None:
    found = refusal(source)
    assert found is not None and found.line == line
    assert words in str(found)


def test_refusal_says_what_is_allowed_and_why() -> None:
    message = str(refusal("import torch"))
    assert "dsl.step, collections, dataclasses" in message
    assert "trusted side computes every tensor" in message


def test_the_allowlist_follows_the_dialect() -> None:
    assert refusal("from dsl import sam", dialect="sam") is None
    assert refusal("from dsl import step", dialect="sam") is not None


@pytest.mark.parametrize("machine", sorted(_DENIED))
def test_seccomp_jumps_stay_inside_the_program(machine: str) -> None:
    code = seccomp_program(machine)
    instructions = [struct.unpack("HBBI", code[i : i + 8]) for i in range(0, len(code), 8)]
    for index, (op, jt, jf, _) in enumerate(instructions):
        if op & 0x07 == 0x05:  # a jump
            assert index + 1 + max(jt, jf) < len(instructions)
    assert instructions[-1][0] == 0x06 and instructions[-2][0] == 0x06  # allow, deny


@pytest.mark.skipif(platform.machine() != "x86_64", reason="filter checked on x86_64 only")
def test_confined_python_keeps_working_but_cannot_fork_or_connect() -> None:
    script = (
        "import sys, os, socket, json, threading\n"
        f"sys.path.insert(0, {str(PROJECT_ROOT)!r})\n"
        "from sandbox.confine import confine\n"
        "layers = confine([p for p in sys.path if p and os.path.isdir(p)])\n"
        "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
        "results = [','.join(layers)]\n"
        "for attempt in (os.fork, socket.socket, lambda: os.execv('/bin/true', ['true'])):\n"
        "    try:\n"
        "        attempt(); results.append('allowed')\n"
        "    except PermissionError:\n"
        "        results.append('denied')\n"
        "print(' '.join(results))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[1:] == ["denied", "denied", "denied"]
    assert "seccomp" in done.stdout
