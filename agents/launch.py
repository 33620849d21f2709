"""The `agent` command's entry point: `agent eval` goes to a warm eval server if one answers.

Only the standard library is imported before that is known (agents.cli loads typer, and the
command itself torch), so a call the server takes starts in a few tens of milliseconds.
Everything else, and an `eval` no server takes, runs `agents.cli.main` in this process; such
an `eval` then starts a server for the next call (see agents.eval_server).
"""

from __future__ import annotations

import sys


def _is_eval(argv: list[str]) -> bool:
    return next((arg for arg in argv[1:] if not arg.startswith("-")), None) == "eval"


def main() -> None:
    from agents import eval_server  # the standard library only

    use_server = _is_eval(sys.argv) and eval_server.enabled(sys.argv)
    if use_server:
        code = eval_server.evaluate(sys.argv)
        if code is not None:
            sys.exit(code)
    from agents import cli

    try:
        cli.main()
    finally:  # after the evaluation, so that the server's start-up never competes with it
        if use_server:
            eval_server.start()


if __name__ == "__main__":
    main()
