"""The process that runs inside the sandbox: program text in, one JSON document out.

It reads {source, dialect, signature, filename, limits} from stdin, checks the program's
imports statically (before anything of the program runs), compiles it, sets its own rlimits,
loads the dialect, confines itself (`sandbox.confine`), runs the program in a fresh module,
finds `kernel` and calls `dsl.<dialect>.trace(kernel, signature)`.

The answer goes out on a private channel: file descriptor 1 is saved for it and then pointed
at stderr, so whatever the program prints lands among the diagnostics and can neither forge
nor interleave with the result. Exactly one line of JSON is written there:
{"status": ok|invalid|error|rejected, "ir", "message", "line"}. The parent (sandbox.runner)
trusts nothing else and treats a second document, none, or a malformed one as rejected.

The harness knows nothing of any dialect beyond `trace` and `dsl.errors.ProgramError`.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import json
import os
import select
import sys
import types

from sandbox.confine import apply_rlimits, confine

ALLOWED_MODULES = frozenset(
    {
        "math",
        "itertools",
        "functools",
        "dataclasses",
        "typing",
        "collections",
        "operator",
        "enum",
        "__future__",
    }
)
REFUSED_NAMES = {
    "__import__": "dynamic imports are refused",
    "exec": "code built at run time cannot be checked",
    "eval": "code built at run time cannot be checked",
    "compile": "code built at run time cannot be checked",
    "open": "the sandbox has no files for a program to read or write",
}
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Refusal(Exception):
    """The static check found something the program may not do."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def _module_allowed(name: str, dialect: str) -> bool:
    root = name.split(".")[0]
    return root in ALLOWED_MODULES or name == f"dsl.{dialect}" or name.startswith(f"dsl.{dialect}.")


def _allowed_list(dialect: str) -> str:
    return ", ".join([f"dsl.{dialect}", *sorted(ALLOWED_MODULES - {"__future__"})])


def check_program(tree: ast.AST, dialect: str) -> None:
    """Raise `Refusal` for the first import outside the allowlist or use of a refused
    builtin. A courtesy that explains an honest mistake early; the isolation around this
    process is what actually contains a dishonest program."""
    why = (
        f"a program may import only {_allowed_list(dialect)}; it builds an IR, and the "
        f"trusted side computes every tensor"
    )
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _module_allowed(alias.name, dialect):
                    raise Refusal(f"import of '{alias.name}' is refused: {why}", line)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                raise Refusal(
                    f"relative import 'from {'.' * node.level}{module}' is refused: {why}", line
                )
            if module == "dsl":
                for alias in node.names:
                    if alias.name != dialect:
                        raise Refusal(f"import of 'dsl.{alias.name}' is refused: {why}", line)
            elif not _module_allowed(module, dialect):
                raise Refusal(f"import from '{module}' is refused: {why}", line)
        elif isinstance(node, ast.Name) and node.id in REFUSED_NAMES:
            raise Refusal(f"use of '{node.id}' is refused: {REFUSED_NAMES[node.id]}", line)


def _program_line(tb: types.TracebackType | None, filename: str) -> int | None:
    """The line of the innermost traceback frame that belongs to the program."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _document(
    status: str,
    *,
    ir: object = None,
    message: str = "",
    line: int | None = None,
    filename: str = "",
) -> str:
    if filename:
        message = f"{filename}:{line}: {message}" if line else f"{filename}: {message}"
    return json.dumps(
        {"status": status, "ir": ir, "message": message, "line": line}, allow_nan=False
    )


def build(request: dict) -> str:
    """Run one request and return the result document (a JSON line)."""
    source, dialect = request["source"], request["dialect"]
    signature, filename = request["signature"], request["filename"]
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        return _document(
            "error", message=f"SyntaxError: {exc.msg}", line=exc.lineno, filename=filename
        )
    errors = importlib.import_module("dsl.errors")
    try:
        trace = importlib.import_module(f"dsl.{dialect}").trace  # held before the program
    except (ImportError, AttributeError) as exc:  # runs, so patching the module is moot
        return _document("error", message=f"dialect {dialect!r} cannot trace: {exc}")
    try:
        check_program(tree, dialect)
    except Refusal as refusal:
        return _document("rejected", message=str(refusal), line=refusal.line, filename=filename)
    code = compile(tree, filename, "exec", dont_inherit=True)
    # The standard library, the dialects and the harness: not the rest of the project.
    read_roots = [p for p in sys.path if p and os.path.isdir(p) and p != PROJECT_ROOT]
    read_roots += [os.path.join(PROJECT_ROOT, "dsl"), os.path.join(PROJECT_ROOT, "sandbox")]
    confine(read_roots)
    module = types.ModuleType("__program__")
    module.__file__ = filename
    sys.modules[module.__name__] = module
    try:
        exec(code, module.__dict__)
        kernel = module.__dict__.get("kernel")
        if not callable(kernel):
            return _document(
                "error", message="the program defines no function `kernel`", filename=filename
            )
        ir = trace(kernel, signature)
    except errors.ProgramError as exc:
        line = exc.line or _program_line(exc.__traceback__, filename)
        return _document("invalid", message=exc.message, line=line, filename=filename)
    except MemoryError:
        limit = int(request["limits"]["memory_bytes"]) // (1024 * 1024)
        return _document(
            "rejected", message=f"memory limit ({limit} MiB) reached", filename=filename
        )
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are the program's too
        line = _program_line(exc.__traceback__, filename)
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if isinstance(exc, SystemExit):
            text = f"the program raised SystemExit({exc.code!r}) instead of defining `kernel`"
        return _document("error", message=text, line=line, filename=filename)
    if not isinstance(ir, dict):
        return _document(
            "rejected",
            message=f"trace returned {type(ir).__name__}, not an IR object",
            filename=filename,
        )
    try:
        return _document("ok", ir=ir)
    except (TypeError, ValueError, RecursionError) as exc:
        return _document("rejected", message=f"the IR is not JSON: {exc}", filename=filename)


def main() -> None:
    """Entry point: `python -c BOOT <run id> <dialect>[,<dialect>...]` (see
    `sandbox.backends`)."""
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # from here on, everything printed is a diagnostic
    for dialect in sys.argv[2].split(","):  # a spare for any of several (sandbox.spares)
        if select.select([0], [], [], 0)[0]:  # the request came: build() loads its one
            break
        with contextlib.suppress(ImportError):  # trusted code, loaded while nobody waits;
            importlib.import_module(f"dsl.{dialect}")  # a bad name is reported in build()
    text = sys.stdin.read()
    if not text:  # a spare that was never used (sandbox.spares): nothing to answer
        os._exit(0)
    request = json.loads(text)
    apply_rlimits(request["limits"])
    document = build(request)
    channel.write(document + "\n")
    channel.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no atexit hooks or finalizers of the program's may run after the answer


if __name__ == "__main__":
    main()
