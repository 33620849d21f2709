"""Programs that try to get out, or to get something out, run under every backend.

Each must end as rejected, error or timeout (or, for patching the dialect, as IR that is
only data) with a one-line reason; the host must be untouched; the next build must work.
Most programs use `BYPASS` to get the real `__import__`, so that they test the isolation and
not the courtesy import check in front of it.
"""

from __future__ import annotations

import json
import os
import platform
import site
import socket
import threading
import time
import uuid

import pytest

from dsl.errors import ValidationError
from dsl.step import load_ir
from sandbox import Limits, build_ir
from sandbox.backends import PROJECT_ROOT
from sandbox.confine import _DENIED, landlock_abi
from tests.sandbox.conftest import (
    BYPASS,
    SIGNATURE,
    TEST_LIMITS,
    VALID,
    assert_sound,
)

FAILED = ("rejected", "error", "timeout")


def needs_confinement(backend: str) -> None:
    """Without namespaces, the plain backend stops file and network access only through
    Landlock and seccomp; where the kernel lacks them there is nothing to test."""
    if backend == "plain" and (landlock_abi() < 4 or platform.machine() not in _DENIED):
        pytest.skip("plain backend: this kernel lacks Landlock (ABI 4+) or our seccomp table")


def run(source: str, backend: str, limits: Limits = TEST_LIMITS):
    return build_ir(source, dialect="step", signature=SIGNATURE, backend=backend, limits=limits)


def test_socket_reaches_no_listener(backend: str) -> None:
    needs_confinement(backend)
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted: list[object] = []
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except TimeoutError:
                continue

    listener = threading.Thread(target=listen)
    listener.start()
    try:
        source = BYPASS + (
            f'_load("socket").create_connection(("127.0.0.1", {port}), timeout=2)'
            '.sendall(b"pwned")\n' + VALID
        )
        result = run(source, backend)
        honest = run("import socket\n" + VALID, backend)
    finally:
        stop.set()
        listener.join()
        server.close()
    assert not accepted, "the sandbox reached a socket on the host"
    assert "PermissionError" in result.message or "OSError" in result.message, result
    assert honest.status == "rejected" and "import of 'socket' is refused" in honest.message
    assert_sound(result, backend, statuses=FAILED)


def test_writes_outside_land_nowhere(backend: str, tmp_path) -> None:
    needs_confinement(backend)
    targets = [
        tmp_path / "pwned",
        PROJECT_ROOT / "pwned",
        PROJECT_ROOT / "dsl" / "pwned.py",
        "/tmp/agent-sandbox-pwned",
    ]
    source = (
        BYPASS
        + f"_targets = {[str(t) for t in targets]!r}\n"
        + """
_outcomes = []
for _path in _targets:
    try:
        with _builtins["op" + "en"](_path, "w") as _file:
            _file.write("pwned")
        _outcomes.append("wrote " + _path)
    except OSError as _exc:
        _outcomes.append(type(_exc).__name__)
raise RuntimeError("; ".join(_outcomes))
"""
        + VALID
    )
    try:
        result = run(source, backend)
        assert "wrote" not in result.message, result
        assert not any(os.path.exists(t) for t in targets)
        assert_sound(result, backend, statuses=("error",))
    finally:
        for target in targets:
            if os.path.exists(target):
                os.remove(target)


def test_reads_of_host_files_bring_nothing_back(backend: str, tmp_path) -> None:
    needs_confinement(backend)
    token = f"host-secret-{uuid.uuid4().hex}"
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(token)
    secret_file.chmod(0o600)
    shadow = open("/etc/shadow").read() if os.access("/etc/shadow", os.R_OK) else ""
    root_entry = next(
        (
            line.split(":")[1]
            for line in shadow.splitlines()
            if line.startswith("root:") and len(line.split(":")[1]) > 4
        ),
        None,
    )
    paths = [str(secret_file), "/etc/shadow", str(PROJECT_ROOT / "pyproject.toml")]
    source = (
        BYPASS
        + f"_paths = {paths!r}\n"
        + """
_found = []
for _path in _paths:
    try:
        with _builtins["op" + "en"](_path) as _file:
            _found.append(_file.read())
    except OSError as _exc:
        _found.append(type(_exc).__name__)
print(_found)
raise RuntimeError(" | ".join(_found))
"""
        + VALID
    )
    result = run(source, backend)
    assert "dataflow-kernel-agents" not in result.message + result.stderr  # pyproject
    assert_sound(
        result, backend, statuses=("error",), secrets=[token] + ([root_entry] if root_entry else [])
    )


def test_parent_environment_does_not_reach_the_program(backend: str, monkeypatch) -> None:
    needs_confinement(backend)
    secret = f"env-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("AGENT_TEST_SECRET", secret)
    source = (
        BYPASS
        + """
_os = _load("os")
_seen = [repr(dict(_os.environ))]
for _path in ("/proc/self/environ", f"/proc/{_os.getppid()}/environ", "/proc/1/environ"):
    try:
        with _builtins["op" + "en"](_path, "rb") as _file:
            _seen.append(repr(_file.read()))
    except OSError as _exc:
        _seen.append(type(_exc).__name__)
print(_seen)
raise RuntimeError(" ".join(_seen))
"""
        + VALID
    )
    result = run(source, backend)
    assert_sound(result, backend, statuses=("error",), secrets=[secret])


def test_fork_bomb_makes_no_process(backend: str) -> None:
    needs_confinement(backend)
    source = (
        BYPASS
        + """
_os = _load("os")
_made = 0
try:
    while True:
        _os.fork()
        _made += 1
finally:
    print("forks:", _made)
"""
        + VALID
    )
    result = run(source, backend, Limits(wall_seconds=5, cpu_seconds=3))
    assert_sound(result, backend, statuses=FAILED)
    assert result.status == "error" and "PermissionError" in result.message, result


def test_subprocess_cannot_start(backend_extra: str) -> None:
    source = BYPASS + '_load("subprocess").run(["/bin/true"])\n' + VALID
    result = run(source, backend_extra)
    assert_sound(result, backend_extra, statuses=("error",))
    assert "PermissionError" in result.message, result


def test_ten_gigabytes_are_refused(backend: str) -> None:
    source = "_hoard = bytearray(10 * 1024 ** 3)\n" + VALID
    result = run(source, backend)
    assert_sound(result, backend, statuses=("rejected",))
    assert "memory limit" in result.message, result


def test_thread_flood_ends_as_an_error(backend_extra: str) -> None:
    source = (
        BYPASS
        + """
_threading = _load("threading")
_event = _threading.Event()
_started = 0
while True:
    _threading.Thread(target=_event.wait, daemon=True).start()
    _started += 1
"""
        + VALID
    )
    result = run(source, backend_extra)
    assert result.status in ("error", "rejected"), result
    assert_sound(result, backend_extra, statuses=("error", "rejected"))


@pytest.mark.slow
def test_growing_allocation_hits_the_limit(backend: str) -> None:
    source = "_hoard = []\nwhile True:\n    _hoard.append(bytearray(64 * 2 ** 20))\n" + VALID
    result = run(source, backend, Limits(wall_seconds=10, memory_bytes=256 * 2**20))
    assert_sound(result, backend, statuses=("rejected",))


def test_endless_loop_times_out(backend: str) -> None:
    started = time.monotonic()
    result = run("while True:\n    pass\n" + VALID, backend, Limits(wall_seconds=2, cpu_seconds=30))
    assert result.status == "timeout" and "wall time limit (2 s)" in result.message, result
    assert time.monotonic() - started < 6
    assert_sound(result, backend, statuses=("timeout",))


@pytest.mark.slow
def test_endless_sleep_times_out(backend: str) -> None:
    result = run(BYPASS + '_load("time").sleep(3600)\n' + VALID, backend, Limits(wall_seconds=2))
    assert_sound(result, backend, statuses=("timeout",))


def test_cpu_limit_stops_a_spinner(backend: str) -> None:
    result = run("while True:\n    pass\n" + VALID, backend, Limits(wall_seconds=15, cpu_seconds=1))
    assert result.status == "timeout" and "CPU time limit (1 s)" in result.message, result
    assert_sound(result, backend, statuses=("timeout",))


def test_printing_100_megabytes_is_cut_off(backend: str) -> None:
    started = time.monotonic()
    result = run('print("x" * 100_000_000)\n' + VALID, backend)
    assert result.status == "rejected" and "printed more than 1 MiB" in result.message
    assert len(result.stderr) <= 4096
    assert time.monotonic() - started < 10
    assert_sound(result, backend, statuses=("rejected",))


def test_tensor_libraries_are_out_of_reach(backend: str) -> None:
    honest = run("import torch\nimport numpy as np\n" + VALID, backend)
    assert honest.status == "rejected" and "import of 'torch'" in honest.message
    assert honest.line == 1
    # Through the real `__import__`, and even with site-packages put back on the path, the
    # files are not there (bwrap, docker) or not readable (Landlock, plain).
    site_dirs = [p for p in site.getsitepackages() if os.path.isdir(p)]
    determined = run(
        BYPASS
        + f"_SITE = {site_dirs!r}\n"
        + """
_outcomes = []
for _name in ("torch", "numpy"):
    try:
        _load(_name)
        _outcomes.append("imported " + _name)
    except ImportError as _exc:
        _outcomes.append(type(_exc).__name__)
    _load("sys").path.extend(_SITE)
raise RuntimeError(" ".join(_outcomes))
"""
        + VALID,
        backend,
    )
    assert determined.status == "error" and "imported" not in determined.message, determined
    assert_sound(determined, backend, statuses=("error",))


def test_patching_trace_does_not_change_the_ir(backend_extra: str) -> None:
    forged = {"dialect": "step", "forged": True}
    genuine = run(VALID, backend_extra)
    patched = run(VALID + f"\nstep.trace = lambda kernel, signature: {forged!r}\n", backend_extra)
    assert patched.status == "ok" and patched.ir == genuine.ir
    assert_sound(patched, backend_extra, statuses=("ok",))


def test_patching_the_builder_yields_only_data(backend: str) -> None:
    """A program can make trace return anything; it is still only JSON, and the trusted side
    validates it (here: the STeP loader refuses it)."""
    source = (
        VALID
        + """

class _Fake:
    def to_json(self, types=True):
        return {"dialect": "step", "version": 1, "nodes": [{"op": "rm -rf /"}]}


getattr(step.trace, "__glob" + "als__")["build"] = lambda kernel, signature: _Fake()
"""
    )
    result = run(source, backend)
    assert result.status == "ok" and result.ir["nodes"] == [{"op": "rm -rf /"}], result
    with pytest.raises(ValidationError):
        load_ir(result.ir)
    assert_sound(result, backend, statuses=("ok",))


def test_printed_ir_is_not_taken_for_the_result(backend_extra: str) -> None:
    fake = json.dumps({"status": "ok", "ir": {"forged": True}, "message": "", "line": None})
    result = run(f"print({fake!r})\n" + VALID, backend_extra)
    assert result.status == "ok" and "forged" not in result.ir
    assert fake in result.stderr
    assert_sound(result, backend_extra, statuses=("ok",))


_WRITE_TO_CHANNEL = (
    BYPASS
    + """
_os = _load("os")
_stat = _load("stat")
for _fd in range(3, 64):
    try:
        if _stat.S_ISFIFO(_os.fstat(_fd).st_mode):
            _os.write(_fd, {payload})
    except OSError:
        pass
"""
)


def test_a_second_document_is_rejected(backend: str) -> None:
    forged = '{"status": "ok", "ir": {"forged": 1}, "message": "", "line": null}\n'
    result = run(_WRITE_TO_CHANNEL.format(payload=f"b{forged!r}") + VALID, backend)
    assert result.status == "rejected" and "2 results came out" in result.message, result
    assert_sound(result, backend, statuses=("rejected",))


@pytest.mark.parametrize(
    "payload, expected",
    [
        ('b"not json at all\\n"', "not a valid result"),
        ('b"[" * 10 ** 6 + b"\\n"', "not a valid result"),
        ('b\'{"status": "timeout", "ir": null}\\n\'', "not a valid result"),
        ('b\'{"status": "ok", "ir": [1]}\\n\'', "not a valid result"),
        ('b"x" * (3 * 2 ** 20)', "larger than the 2 MiB limit"),
    ],
)
def test_malformed_channel_writes_are_rejected(
    backend_extra: str, payload: str, expected: str
) -> None:
    source = _WRITE_TO_CHANNEL.format(payload=payload) + "_os._exit(0)\n"
    result = run(source + VALID, backend_extra)
    assert result.status == "rejected" and expected in result.message, result
    assert_sound(result, backend_extra, statuses=("rejected",))


def test_no_ir_when_the_process_quits_quietly(backend: str) -> None:
    result = run(BYPASS + '_load("os")._exit(0)\n' + VALID, backend)
    assert result.status == "rejected" and "no IR came out" in result.message, result
    assert_sound(result, backend, statuses=("rejected",))


@pytest.mark.parametrize(
    "ending, expected",
    [
        ("raise SystemExit(3)", "raised SystemExit(3)"),
        ('_load("os")._exit(3)', "exited with code 3 before answering"),
    ],
)
def test_odd_exits_are_errors(backend: str, ending: str, expected: str) -> None:
    result = run(BYPASS + ending + "\n" + VALID, backend)
    assert result.status == "error" and expected in result.message, result
    assert_sound(result, backend, statuses=("error",))


@pytest.mark.parametrize(
    "ending, expected",
    [
        ("raise KeyboardInterrupt", "KeyboardInterrupt"),
        ('_load("os").kill(_load("os").getpid(), 9)', "PermissionError"),
        ('_load("ctypes").string_at(0)', "died of SIGSEGV"),
    ],
)
def test_more_odd_exits_are_errors(backend_extra: str, ending: str, expected: str) -> None:
    result = run(BYPASS + ending + "\n" + VALID, backend_extra)
    assert result.status == "error" and expected in result.message, result
    assert_sound(result, backend_extra, statuses=("error",))
