#!/usr/bin/env bash
# Set up a fresh machine (Python 3.11, root): the package with its dependencies, and the
# sandbox's host tools (bubblewrap, a Docker engine and the sandbox image) when possible.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
if [ -x sandbox/setup_host.sh ]; then
  sandbox/setup_host.sh || echo "setup: sandbox host tools not fully available; the sandbox falls back (see 'agent doctor')" >&2
fi
