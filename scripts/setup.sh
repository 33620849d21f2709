#!/usr/bin/env bash
# Set up this checkout: a project virtual environment in .venv/ (never the system
# interpreter), the package and its dependencies inside it, and the sandbox's host tools.
# Prints one line per step saying what it installs and why. Idempotent: a second run finds
# everything in place and only checks (about 10 s, most of it asking Docker).
#
#   PYTHON=python3.12 scripts/setup.sh     # the interpreter the venv is made from (>= 3.11)
#   AGENT_SKIP_HOST_TOOLS=1 scripts/setup.sh   # no apt-get, no Docker daemon: the sandbox
#                                              # falls back (see `agent doctor`)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
started=$SECONDS
step() { echo "setup: $*"; }
took() { echo "setup:   done in $((SECONDS - ${1}))s"; }

# Tools are found on PATH (some machines keep them in /usr/local/bin, others in /usr/bin).
python=${PYTHON:-}
if [ -z "$python" ]; then
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then python=$candidate; break; fi
    done
fi
if [ -z "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup: needs Python >= 3.11 (found: ${python:-none}); set PYTHON=/path/to/python3.11" >&2
    exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
    t=$SECONDS
    step "creating the project virtual environment $venv/ from $(command -v "$python") ($("$python" -V 2>&1))"
    step "  (everything below installs into $venv/; the system's Python packages are not touched)"
    "$python" -m venv "$venv"
    took $t
fi

# Reinstall only when the dependency list changed since the last successful install.
stamp="$venv/.installed-$("$venv/bin/python" -c 'import hashlib,sys; print(hashlib.sha256(open("pyproject.toml","rb").read()).hexdigest()[:16])')"
if [ ! -f "$stamp" ]; then
    t=$SECONDS
    step "installing the project into $venv/ with its dependencies (first time only: 3-20 min, about 1.7 GB):"
    step "  torch (CPU build: the PyTorch references every kernel is checked against), numpy, scipy,"
    step "  numba (the compiled loop of the simulators' channel solver)"
    step "  litellm (hosted and local models), langgraph (the solve workflow), typer and rich (the"
    step "  agent command), matplotlib (report figures), docker (the Docker sandbox backend),"
    step "  scikit-learn (the tuner), mcp (agent mcp: tools for coding agents)"
    step "  ray (agent solve --executor ray: runs on a cluster) and, for tests, pytest, hypothesis and ruff"
    # (pip's notes about configured index folders that do not exist are noise here)
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev,ray]' 2>&1 \
        | sed '/is ignored: it is neither a file nor a directory/d'
    rm -f "$venv"/.installed-*
    touch "$stamp"
    took $t
else
    step "project and dependencies already installed in $venv/ (pyproject.toml unchanged)"
fi

t=$SECONDS
step "compiling the simulators' numba kernels once (the channel solver, SAM's critical path;"
step "  numba caches them: no later run pays the 15-20 s)"
"$venv/bin/python" -c 'from interpreter.core.jit import warm_up; warm_up()'
took $t

# The sandbox starts Python with -B on every build and imports the dialects from this
# checkout, read-only: without bytecode beside them (none is written where
# PYTHONDONTWRITEBYTECODE is set, and pip does not compile an editable install) each build
# compiles them again, 0.1-0.3 s of a warm `agent eval`. Stale files are only refreshed.
step "compiling the dialects and the sandbox harness to bytecode (what every sandbox imports)"
"$venv/bin/python" -m compileall -q dsl sandbox >/dev/null

if [ "${AGENT_SKIP_HOST_TOOLS:-0}" = 1 ]; then
    step "skipping the sandbox's host tools (AGENT_SKIP_HOST_TOOLS=1); 'agent doctor' shows the fallback"
elif [ -x sandbox/setup_host.sh ]; then
    t=$SECONDS
    step "sandbox host tools: bubblewrap and docker.io via apt-get if missing (needs root), a Docker"
    step "  daemon if none answers, and the local sandbox image (skip with AGENT_SKIP_HOST_TOOLS=1)"
    PYTHON="$venv/bin/python" sandbox/setup_host.sh \
        || echo "setup: sandbox host tools not fully available; the sandbox falls back (see 'agent doctor')" >&2
    took $t
fi
step "ready in $((SECONDS - started))s; use the environment with: . $venv/bin/activate"
