#!/usr/bin/env bash
# Set everything up (scripts/setup.sh), lint, then run the default test set (slow tests and
# benchmarks excluded; add `-m slow` for those). Extra arguments go to pytest. Exits non-zero
# when lint or a test fails (the tests run either way, so one run shows both).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "test: ruff check and ruff format --check"
lint=0
.venv/bin/ruff check . && .venv/bin/ruff format --check --quiet . || lint=1
echo "test: python -m pytest $*"
tests=0
.venv/bin/python -m pytest "$@" || tests=$?
if [ "$lint" != 0 ]; then echo "test: lint failed (see above)" >&2; fi
if [ "$tests" != 0 ]; then exit "$tests"; fi
exit "$lint"
