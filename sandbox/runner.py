"""`build_ir`: run a program's Python in the sandbox and bring back its IR, or why not.

The parent side of the protocol (the child side is `sandbox.harness`). It takes a started
sandbox (`sandbox.spares`: the backend's command in a new session and a fresh temporary
folder), feeds the request on stdin, and reads the result channel (the child's stdout) and the
program's output (stderr) at once, each with a cap. Past the wall-time deadline or a cap it
kills the whole process tree (and the container), and it classifies how the run ended.
Nothing the child says is trusted beyond one well-formed JSON document.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field

from sandbox.backends import Backend, SandboxConfigError, select_backend
from sandbox.limits import KIB, MIB, Limits
from sandbox.result import STATUSES, BuildResult, one_line
from sandbox.spares import SPARES

STDERR_TAIL = 4 * KIB
_DIALECT_NAME = re.compile(r"[a-z][a-z0-9_]*")
_CHUNK = 64 * KIB


@dataclass
class _Streams:
    """What was read from the child, and whether reading had to stop early."""

    channel: bytearray = field(default_factory=bytearray)
    output: bytearray = field(default_factory=bytearray)  # the tail of stderr
    output_total: int = 0
    overflow: str | None = None
    timed_out: bool = False


def _send(process: subprocess.Popen, pending: memoryview) -> memoryview:
    """Write what the pipe takes now of `pending` (never blocks); returns the rest, and
    closes the child's stdin once all is written."""
    os.set_blocking(process.stdin.fileno(), False)
    while pending:
        try:
            sent = os.write(process.stdin.fileno(), pending[:_CHUNK])
        except BlockingIOError:
            return pending
        except BrokenPipeError:  # the child stopped reading; its end says why
            sent = len(pending)
        pending = pending[sent:]
    process.stdin.close()
    return pending


def _exchange(
    process: subprocess.Popen, pending: memoryview, limits: Limits, deadline: float
) -> _Streams:
    """Write the rest of the request and read both pipes until they close, the deadline
    or a cap."""
    streams = _Streams()
    selector = selectors.DefaultSelector()
    if pending:
        selector.register(process.stdin, selectors.EVENT_WRITE)
    selector.register(process.stdout, selectors.EVENT_READ)
    selector.register(process.stderr, selectors.EVENT_READ)
    try:
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                streams.timed_out = True
                return streams
            for key, _ in selector.select(remaining):
                if key.fileobj is process.stdin:
                    try:
                        sent = os.write(process.stdin.fileno(), pending[:_CHUNK])
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # the child stopped reading; its end says why
                        sent = len(pending)
                    pending = pending[sent:]
                    if not pending:
                        selector.unregister(process.stdin)
                        process.stdin.close()
                    continue
                data = os.read(key.fileobj.fileno(), _CHUNK)
                if not data:
                    selector.unregister(key.fileobj)
                elif key.fileobj is process.stdout:
                    streams.channel += data
                    if len(streams.channel) > limits.ir_bytes:
                        streams.overflow = (
                            f"the IR is larger than the {_size(limits.ir_bytes)} limit"
                        )
                        return streams
                else:
                    streams.output_total += len(data)
                    streams.output = (streams.output + data)[-STDERR_TAIL:]
                    if streams.output_total > limits.output_bytes:
                        streams.overflow = (
                            f"the program printed more than {_size(limits.output_bytes)}"
                        )
                        return streams
    finally:
        selector.close()
    return streams


def _size(count: int) -> str:
    return f"{count // MIB} MiB" if count >= MIB else f"{count // KIB} KiB"


def _classify(
    streams: _Streams, returncode: int, backend: Backend, limits: Limits, filename: str
) -> tuple[str, dict | None, str, int | None]:
    """(status, ir, message, line) from what happened to the child."""
    if streams.timed_out:
        return (
            "timeout",
            None,
            f"{filename}: wall time limit ({limits.wall_seconds:g} s) reached",
            None,
        )
    if streams.overflow:
        return "rejected", None, f"{filename}: {streams.overflow}", None
    last_words = (streams.output.decode(errors="replace").strip().splitlines() or [""])[-1]
    died_of = backend.signal_of(returncode)
    if died_of == signal.SIGXCPU:
        return (
            "timeout",
            None,
            f"{filename}: CPU time limit ({limits.cpu_seconds} s) reached",
            None,
        )
    if died_of == signal.SIGKILL:
        return (
            "rejected",
            None,
            f"{filename}: the process was killed (a memory, CPU or process limit)",
            None,
        )
    if died_of is not None:
        return (
            "error",
            None,
            f"{filename}: the process died of {signal.Signals(died_of).name}",
            None,
        )
    if returncode != 0:
        said = f": {one_line(last_words, 200)}" if last_words else ""
        return (
            "error",
            None,
            f"{filename}: the process exited with code {returncode} before answering{said}",
            None,
        )
    documents = [line for line in bytes(streams.channel).split(b"\n") if line.strip()]
    if not documents:
        return "rejected", None, f"{filename}: no IR came out of the sandbox", None
    if len(documents) > 1:
        return (
            "rejected",
            None,
            f"{filename}: {len(documents)} results came out of the "
            "sandbox; exactly one IR is allowed",
            None,
        )
    try:
        document = json.loads(documents[0])
    except (ValueError, RecursionError):
        document = None
    if (
        not isinstance(document, dict)
        or document.get("status") not in STATUSES
        or document["status"] == "timeout"
        or not isinstance(document.get("message", ""), str)
        or not isinstance(document.get("line"), int | None)
        or (document["status"] == "ok") != isinstance(document.get("ir"), dict)
    ):
        return "rejected", None, f"{filename}: the sandbox's answer is not a valid result", None
    return (
        document["status"],
        document.get("ir"),
        one_line(document.get("message", "")),
        document.get("line"),
    )


def build_ir(
    source: str,
    *,
    dialect: str,
    signature: dict,
    backend: str | None = None,
    limits: Limits | None = None,
    filename: str = "program.py",
    last: bool = False,
) -> BuildResult:
    """Run `source` in the sandbox; it must define `kernel`, which `dsl.<dialect>.trace`
    turns into IR. Never raises for anything the program does; raises
    `sandbox.backends.SandboxConfigError` for an unknown or unusable backend, and when the
    backend fails a run (a docker daemon that refuses or dies). `last`: the caller builds
    nothing after this, so no spare sandbox starts behind it (`sandbox.spares`)."""
    return submit_build(
        source,
        dialect=dialect,
        signature=signature,
        backend=backend,
        limits=limits,
        filename=filename,
        last=last,
    ).result()


class PendingBuild:
    """A build under way (`submit_build`): its sandbox has the request, or as much of it as
    the pipe took, and runs on while the caller does something else. `result` waits for it
    (the wall-time deadline counts from the submission); `cancel` stops it. Either, once,
    ends the sandbox: a caller must call one of them on every path."""

    def __init__(self, chosen: Backend, limits: Limits, filename: str) -> None:
        self.chosen, self.limits, self.filename = chosen, limits, filename
        self.started = time.monotonic()
        self.deadline = self.started + limits.wall_seconds
        self.sandbox = None
        self.pending = memoryview(b"")
        self.early: BuildResult | None = None  # decided without a sandbox

    def _result(
        self,
        status: str,
        message: str,
        ir: dict | None = None,
        line: int | None = None,
        stderr: str = "",
    ) -> BuildResult:
        return BuildResult(
            status,
            ir,
            one_line(message),
            line,
            self.chosen.name,
            time.monotonic() - self.started,
            stderr,
        )

    def result(self) -> BuildResult:
        """Wait for the build and classify how it ended (as `build_ir`)."""
        if self.early is not None:
            return self.early
        sandbox, self.sandbox = self.sandbox, None
        if sandbox is None:
            raise RuntimeError("this build was collected or cancelled already")
        try:
            streams = _exchange(sandbox.process, self.pending, self.limits, self.deadline)
        finally:
            returncode = sandbox.finish()
        fault = self.chosen.fault_of(sandbox.process)
        if fault:  # the sandbox failed, not the program: no verdict can be given
            raise SandboxConfigError(f"sandbox backend {self.chosen.name!r} failed: {fault}")
        status, ir, message, line = _classify(
            streams, returncode, self.chosen, self.limits, self.filename
        )
        return self._result(status, message, ir, line, streams.output.decode(errors="replace"))

    def cancel(self) -> None:
        """Stop the sandbox if it was not collected: kill it, reap it, remove its folder."""
        sandbox, self.sandbox = self.sandbox, None
        if sandbox is not None:
            sandbox.finish()


def submit_build(
    source: str,
    *,
    dialect: str,
    signature: dict,
    backend: str | None = None,
    limits: Limits | None = None,
    filename: str = "program.py",
    last: bool = False,
) -> PendingBuild:
    """Start `build_ir`'s build and return without waiting for it: the request goes to a
    sandbox (a spare if one waits) and the sandbox traces on another core meanwhile. Raises
    as `build_ir` for an unusable backend."""
    limits = limits or Limits()
    chosen, _ = select_backend(backend)
    filename = one_line(os.path.basename(filename) or "program.py", 100)
    build = PendingBuild(chosen, limits, filename)
    if not _DIALECT_NAME.fullmatch(dialect):
        build.early = build._result("error", f"{filename}: {dialect!r} is not a dialect name")
        return build
    if len(source.encode()) > limits.source_bytes:
        build.early = build._result(
            "rejected",
            f"{filename}: the program is larger than the {_size(limits.source_bytes)} limit",
        )
        return build
    request = json.dumps(
        {
            "source": source,
            "dialect": dialect,
            "signature": signature,
            "filename": filename,
            "limits": limits.to_json(),
        }
    ).encode()
    sandbox = SPARES.take(chosen, limits, dialect, last=last)
    try:
        build.pending = _send(sandbox.process, memoryview(request))
    except BaseException:
        sandbox.finish()
        raise
    build.sandbox = sandbox
    return build
