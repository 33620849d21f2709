#!/usr/bin/env bash
# Set everything up (scripts/setup.sh), lint, then run the default test set (slow tests and
# benchmarks excluded; add `-m slow` for those). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "test: ruff check and ruff format --check"
.venv/bin/ruff check . && .venv/bin/ruff format --check --quiet .
echo "test: python -m pytest $*"
.venv/bin/python -m pytest "$@"
